// Runs an edge-convert --mcu bundle with TensorFlow Lite Micro on an emulated Cortex-M: inputs
// come from the host through semihosting (inputs.bin: input tensors back to back), outputs go
// back the same way (outputs.bin), and for each Invoke() the instructions it executed are
// printed (see edge_clock.h: instructions, not cycles). Built and run by edge/bench/mcu
// (edge-bench --mcu).
#include <cstdio>
#include <cstring>

#include "edge_clock.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"

// Defined per bundle: the model (model_data.cc) and the arena (a file the build writes with
// the bundle's kTensorArenaSize), so this file is compiled once per CPU, kernels and op set.
extern const unsigned char g_edge_model_data[];
extern "C" uint8_t g_edge_arena[];
extern "C" const size_t g_edge_arena_size;

static edge_model::OpResolver g_resolver;

#ifdef EDGE_PROFILE
// Per-op instructions: TFLM brackets each kernel's invoke with BeginEvent/EndEvent. The two
// clock reads an op costs are counted in Invoke()'s total but not in the op's.
class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char* tag) override {
    if (count_ == kMaxEvents) return kMaxEvents;
    tags_[count_] = tag;
    edge_clock_read(&start_[count_]);
    return count_++;
  }
  void EndEvent(uint32_t handle) override {
    edge_clock_sample end;
    edge_clock_read(&end);
    if (handle < kMaxEvents) instructions_[handle] = edge_clock_instructions(&start_[handle], &end);
  }
  void PrintAndReset() {
    char buf[24];
    for (uint32_t i = 0; i < count_; ++i) {
      printf("op %lu %s instructions %s\n", (unsigned long)i, tags_[i],
             edge_u64(instructions_[i], buf));
    }
    count_ = 0;
  }

 private:
  static constexpr uint32_t kMaxEvents = 512;
  const char* tags_[kMaxEvents];
  edge_clock_sample start_[kMaxEvents];
  uint64_t instructions_[kMaxEvents];
  uint32_t count_ = 0;
};
static OpProfiler g_profiler;
static tflite::MicroProfilerInterface* const g_profiler_ptr = &g_profiler;
#else
static tflite::MicroProfilerInterface* const g_profiler_ptr = nullptr;
#endif

int main() {
  edge_clock_init();
  char buf[24];
  printf("edge-mcu clock_overhead %lu arena_bytes %lu\n",
         (unsigned long)edge_clock_overhead(), (unsigned long)g_edge_arena_size);
  if (edge_model::RegisterOps(g_resolver) != kTfLiteOk) {
    printf("error RegisterOps failed\n");
    return 2;
  }
  tflite::MicroInterpreter interpreter(tflite::GetModel(g_edge_model_data), g_resolver,
                                       g_edge_arena, g_edge_arena_size, nullptr,
                                       g_profiler_ptr);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("error AllocateTensors failed with a %lu-byte arena\n",
           (unsigned long)g_edge_arena_size);
    return 3;
  }
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  printf("input_bytes %lu output_bytes %lu\n", (unsigned long)input->bytes,
         (unsigned long)output->bytes);
  FILE* inputs = fopen("inputs.bin", "rb");
  FILE* outputs = fopen("outputs.bin", "wb");
  if (inputs == nullptr || outputs == nullptr) {
    printf("error cannot open inputs.bin or outputs.bin\n");
    return 4;
  }
  int count = 0;
  while (fread(input->data.raw, 1, input->bytes, inputs) == input->bytes) {
    edge_clock_sample start, end;
    edge_clock_read(&start);
    TfLiteStatus status = interpreter.Invoke();
    edge_clock_read(&end);
    if (status != kTfLiteOk) {
      printf("error Invoke failed on input %d\n", count);
      return 5;
    }
    fwrite(output->data.raw, 1, output->bytes, outputs);
#ifdef EDGE_PROFILE
    g_profiler.PrintAndReset();
#endif
    printf("invoke %d instructions %s\n", count,
           edge_u64(edge_clock_instructions(&start, &end), buf));
    ++count;
  }
  fclose(inputs);
  fclose(outputs);
  printf("done invokes %d arena_used_bytes %lu\n", count,
         (unsigned long)interpreter.arena_used_bytes());
  return 0;
}
