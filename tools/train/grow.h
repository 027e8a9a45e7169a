// Starting a deeper model from a trained one: every decoder layer of the trained model is kept,
// and new layers are interleaved between them with their output projections at zero, so the
// grown model computes exactly what the trained one did and the new layers add to it as they
// learn. Everything else (vision encoder, token generator, embeddings, head) is copied.
#pragma once

#include <string>

#include "train_state.h"

namespace llamavid::world {

// Fills `params` (a freshly initialised model whose decoder has a multiple of the checkpoint's
// layers) from the checkpoint in DIR: new layer j is old layer j / factor when j % factor == 0,
// else a new layer whose o_proj and down_proj are zero. Returns the checkpoint's progress with
// the main phase restarted (step 0, no time spent): a grown model is a new run. Error when a
// tensor other than a new layer's is missing or has another shape, or the layer counts do not
// divide.
Progress grow_from_checkpoint(const std::string& dir, const NamedTensors& params);

}  // namespace llamavid::world
