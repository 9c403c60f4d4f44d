// The bundle's example: classify one image with TensorFlow Lite Micro and print the top class
// with its label. Written by edge-convert --mcu (the same file for every model: the model's
// facts come from the headers); build it with the Makefile beside it (README.md says how).
//
//   edge_example [IMAGE] [--logits]
//
// IMAGE: the camera's RGB bytes as the model takes them (the centre square resized to
// kInputHeight x kInputWidth, row-major, R G B), raw (exactly that many bytes) or, when the
// name ends in .ppm, a binary PPM (P6, no comments, maxval 255) of that size. Without IMAGE: a
// grey test image (every byte 128). --logits: also print every int8 output on one line.
// On a Cortex-M built with semihosting the file is read through the debugger (or QEMU).
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "model_data.h"
#include "model_labels.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"

#if __has_include("edge_motion.h")
#include "edge_motion.h"  // the motion gate, in bundles that have it
#define EDGE_EXAMPLE_MOTION 1
#endif

namespace {

constexpr int kInputBytes =
    edge_model::kInputHeight * edge_model::kInputWidth * edge_model::kInputChannels;

alignas(16) uint8_t g_arena[edge_model::kTensorArenaSize];
uint8_t g_image[kInputBytes];

bool EndsWith(const char* text, const char* tail) {
  const size_t n = strlen(text), m = strlen(tail);
  return n >= m && strcmp(text + n - m, tail) == 0;
}

// Reads IMAGE into g_image; false (and says why) unless it is exactly the input's size.
bool ReadImage(const char* path) {
  FILE* file = fopen(path, "rb");
  if (file == nullptr) {
    printf("error: cannot open %s\n", path);
    return false;
  }
  bool ok = true;
  if (EndsWith(path, ".ppm")) {
    int width = 0, height = 0, maxval = 0;
    ok = fscanf(file, "P6 %d %d %d", &width, &height, &maxval) == 3 && fgetc(file) != EOF &&
         width == edge_model::kInputWidth && height == edge_model::kInputHeight &&
         maxval == 255 && edge_model::kInputChannels == 3;
    if (!ok) printf("error: %s is not a %dx%d P6 PPM with maxval 255\n", path,
                    edge_model::kInputWidth, edge_model::kInputHeight);
  }
  if (ok) {
    uint8_t extra;
    ok = fread(g_image, 1, kInputBytes, file) == static_cast<size_t>(kInputBytes) &&
         fread(&extra, 1, 1, file) == 0;
    if (!ok) printf("error: %s does not hold exactly %d image bytes\n", path, kInputBytes);
  }
  fclose(file);
  return ok;
}

// value / 1000 with three decimals, without printf's float support (newlib-nano has none).
void PrintMilli(long milli) {
  const char* sign = milli < 0 ? "-" : "";
  if (milli < 0) milli = -milli;
  printf("%s%ld.%03ld", sign, milli / 1000, milli % 1000);
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = nullptr;
  bool print_logits = false;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--logits") == 0) {
      print_logits = true;
    } else {
      path = argv[i];
    }
  }
  if (path == nullptr) {
    memset(g_image, 128, sizeof(g_image));
    printf("input: a grey test image (no IMAGE given)\n");
  } else if (!ReadImage(path)) {
    return 2;
  } else {
    printf("input: %s\n", path);
  }

  static edge_model::OpResolver resolver;
  if (edge_model::RegisterOps(resolver) != kTfLiteOk) {
    printf("error: RegisterOps failed\n");
    return 3;
  }
  static tflite::MicroInterpreter interpreter(tflite::GetModel(g_edge_model_data), resolver,
                                              g_arena, sizeof(g_arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("error: AllocateTensors failed with a %d-byte arena\n",
           static_cast<int>(sizeof(g_arena)));
    return 4;
  }

#ifdef EDGE_EXAMPLE_MOTION
  // A still camera: ask the gate first, and run the model only when the scene changed (the
  // first frame always does). t_ms: the camera's millisecond clock.
  static edge_motion_t gate;
  edge_motion_init(&gate, nullptr);
  const edge_motion_verdict_t verdict =
      edge_motion_check(&gate, g_image, edge_model::kInputHeight, edge_model::kInputWidth,
                        edge_model::kInputChannels, 0);
  printf("motion gate: %s\n", edge_motion_should_infer(verdict) ? "infer" : "still");
#endif

  // The camera bytes as the model reads them: int8 input = byte - 128 (its top bit flipped);
  // a uint8 input takes them as they are.
  TfLiteTensor* input = interpreter.input(0);
  for (int i = 0; i < kInputBytes; ++i) {
    if (edge_model::kInputIsInt8) {
      input->data.int8[i] = static_cast<int8_t>(g_image[i] ^ 0x80);
    } else {
      input->data.uint8[i] = g_image[i];
    }
  }
  if (interpreter.Invoke() != kTfLiteOk) {
    printf("error: Invoke failed\n");
    return 5;
  }

  // int8 logits: the top class is the largest; logit = kOutputScale * (q - kOutputZeroPoint).
  const int8_t* out = interpreter.output(0)->data.int8;
  int best = 0;
  for (int i = 1; i < edge_model::kNumClasses; ++i) {
    if (out[i] > out[best]) best = i;
  }
  const long milli = static_cast<long>(edge_model::kOutputScale * 1000.0f *
                                       static_cast<float>(out[best] - edge_model::kOutputZeroPoint));
  printf("top-1: %d %s (int8 %d, logit ", best, edge_model::kLabels[best], out[best]);
  PrintMilli(milli);
  printf(")\narena: %d of %d bytes used\n", static_cast<int>(interpreter.arena_used_bytes()),
         static_cast<int>(sizeof(g_arena)));
  if (print_logits) {
    printf("logits:");
    for (int i = 0; i < edge_model::kNumClasses; ++i) printf(" %d", out[i]);
    printf("\n");
  }
  return 0;
}
