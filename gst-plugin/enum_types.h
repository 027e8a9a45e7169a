// The GEnum types of the element's enum properties. Their values are those of the C++ enums,
// except time-markers, whose "auto" (the model's own markers) is an unset option in the session.
#pragma once

#include <glib-object.h>

#include <optional>

#include "core/config.h"

namespace llamavid::element {

GType skip_frames_get_type();
GType time_markers_get_type();
GType context_mode_get_type();
GType text_format_get_type();

// The time-markers enum value of a session option, and back.
gint time_markers_value(const std::optional<TimeMarkers>& markers);
std::optional<TimeMarkers> time_markers_option(gint value);

}  // namespace llamavid::element
