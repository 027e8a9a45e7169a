// The JSON form of the element's messages, one rule for text_src (text-format=json) and for
// llamavid-ask --json: {"type": the structure's name without "llamavid-", then every field under
// its own name}. Integers and booleans stay JSON numbers and booleans (times are ns), strings
// are strings; one object on one line, no line break inside.
#pragma once

#include <gst/gst.h>

#include <string>

namespace llamavid {

std::string message_json(const GstStructure* s);

}  // namespace llamavid
