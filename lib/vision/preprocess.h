// Frame preprocessing as LLaMA-VID's CLIPImageProcessor does it: RGB, shortest edge resized to
// the model's image size with PIL-style antialiased bicubic, centre crop, scale to [0,1],
// normalise with the CLIP mean and std. FrameFit::Pad first pads the frame to a square with the
// CLIP mean colour, as LLaMA-VID's "pad" image preprocessing (expand2square) does, so the crop
// keeps all of it.
#pragma once

#include <opencv2/core.hpp>
#include <torch/types.h>

#include "core/config.h"
#include "vision/frame.h"

namespace llamavid {

// A frame viewing a packed 8-bit RGB matrix (which must outlive it) at stream time pts_ns.
Frame frame_from_rgb(const cv::Mat& rgb, int64_t pts_ns);

// Any supported pixel layout -> packed RGB, 8 bits per channel (a new matrix).
cv::Mat frame_to_rgb(const Frame& frame);

// Resamples like PIL's Image.resize(..., BICUBIC): a separable bicubic (a = -0.5) whose support
// widens with the downscale factor, so shrinking averages rather than aliases.
cv::Mat resize_bicubic_antialiased(const cv::Mat& rgb, int out_width, int out_height);

// rgb [H, W, 3] uint8 -> pixels [3, size, size] float32, CLIP-normalised.
torch::Tensor clip_preprocess(const cv::Mat& rgb, int64_t size, FrameFit fit = FrameFit::Crop);

// rgb [H, W, 3] uint8 -> out [3, size, size] float32 (contiguous, CPU; e.g. one slice of a
// batch), the same values as clip_preprocess, written in place.
void clip_preprocess_into(const cv::Mat& rgb, torch::Tensor out, FrameFit fit);

// frame [H, W] any supported layout -> out [3, size, size] float32: clip_preprocess of
// frame_to_rgb(frame), without copying RGB frames (when cropped) or allocating per frame.
void clip_preprocess_into(const Frame& frame, torch::Tensor out, FrameFit fit);

}  // namespace llamavid
