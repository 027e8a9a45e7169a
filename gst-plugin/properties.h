// The llamavid element's GObject properties: one table (properties.cpp) says, per property,
// its spec, where its value lives in Settings, and what a change must reach.
#pragma once

#include <glib-object.h>

namespace llamavid::element {

// Installs every property of the table on the class.
void install_properties(GObjectClass* klass);
void set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec);
void get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec);

}  // namespace llamavid::element
