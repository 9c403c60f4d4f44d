// Runs the edge-convert --mcu bundle with TFLM on an emulated Cortex-M (QEMU's MPS2 boards):
// frames come from the host through semihosting (frames.bin: int8 inputs back to back), the
// int8 logits go back the same way (logits.bin), and the arena TFLM used is printed.
// Built and run by tools/mcu_qemu.py; not part of the package.
#include <cstdio>

#include "model_data.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"

// Exactly the arena the report gives: the run proves it is enough on a 32-bit build.
alignas(16) static uint8_t arena[edge_model::kTensorArenaSize];
static edge_model::OpResolver resolver;

int main() {
  if (edge_model::RegisterOps(resolver) != kTfLiteOk) return 1;
  tflite::MicroInterpreter interpreter(tflite::GetModel(g_edge_model_data), resolver, arena,
                                       sizeof(arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("AllocateTensors failed with a %u-byte arena\n", (unsigned)sizeof(arena));
    return 2;
  }
  FILE* frames = fopen("frames.bin", "rb");
  FILE* logits = fopen("logits.bin", "wb");
  if (frames == nullptr || logits == nullptr) return 3;
  const size_t in_bytes = interpreter.input(0)->bytes;
  const size_t out_bytes = interpreter.output(0)->bytes;
  int count = 0;
  while (fread(interpreter.input(0)->data.raw, 1, in_bytes, frames) == in_bytes) {
    if (interpreter.Invoke() != kTfLiteOk) return 4;
    fwrite(interpreter.output(0)->data.raw, 1, out_bytes, logits);
    ++count;
  }
  fclose(frames);
  fclose(logits);
  printf("frames %d arena_used_bytes %u arena_bytes %u\n", count,
         (unsigned)interpreter.arena_used_bytes(), (unsigned)sizeof(arena));
  return 0;
}
