#include "message_json.h"

#include <nlohmann/json.hpp>

namespace llamavid {

namespace {

constexpr const char* kPrefix = "llamavid-";

nlohmann::ordered_json field_value(const GValue* v) {
  switch (G_VALUE_TYPE(v)) {
    case G_TYPE_UINT64:
      return g_value_get_uint64(v);
    case G_TYPE_INT64:
      return g_value_get_int64(v);
    case G_TYPE_UINT:
      return g_value_get_uint(v);
    case G_TYPE_INT:
      return g_value_get_int(v);
    case G_TYPE_BOOLEAN:
      return static_cast<bool>(g_value_get_boolean(v));
    case G_TYPE_DOUBLE:
      return g_value_get_double(v);
    case G_TYPE_STRING: {
      const gchar* s = g_value_get_string(v);
      return s ? s : "";
    }
    default: {
      // Not a type our messages carry; its serialization keeps the object complete.
      gchar* text = gst_value_serialize(v);
      nlohmann::ordered_json j = text ? text : "";
      g_free(text);
      return j;
    }
  }
}

}  // namespace

std::string message_json(const GstStructure* s) {
  nlohmann::ordered_json j;
  std::string type = gst_structure_get_name(s);
  if (type.rfind(kPrefix, 0) == 0) type.erase(0, std::char_traits<char>::length(kPrefix));
  j["type"] = type;
  const gint n = gst_structure_n_fields(s);
  for (gint i = 0; i < n; ++i) {
    const gchar* name = gst_structure_nth_field_name(s, i);
    j[name] = field_value(gst_structure_get_value(s, name));
  }
  // Strings of our messages are valid UTF-8 already; replace guards the object anyway.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace llamavid
