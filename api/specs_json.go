package api

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// appendDefinition writes a libvirtxml value as JSON with encoding/json's field
// names, but only what the XML holds: libvirtxml marks every optional
// element with a nil pointer or an omitempty tag, and plain encoding/json
// would print each of its hundreds of absent fields as null or "".
func appendDefinition(b []byte, v reflect.Value) []byte {
	b, _ = appendDefinitionValue(b, v, false)
	return b
}

// appendDefinitionValue reports false, having written nothing, for a value the
// XML would leave out. A non-nil pointer to an empty struct is kept: it
// stands for an empty element such as <acpi/>.
func appendDefinitionValue(b []byte, v reflect.Value, omitEmpty bool) ([]byte, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return b, false
		}
		return appendDefinitionValue(b, v.Elem(), false)
	case reflect.Struct:
		start := len(b)
		b = append(b, '{')
		b, empty := appendDefinitionFields(b, v, true)
		if empty && omitEmpty {
			return b[:start], false
		}
		return append(b, '}'), true
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			return b, false
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			break
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendDefinitionValue(b, v.Index(i), false); !ok {
				b = append(b, "null"...)
			}
		}
		return append(b, ']'), true
	case reflect.String:
		if omitEmpty && v.Len() == 0 {
			return b, false
		}
		return appendString(b, v.String()), true
	case reflect.Bool:
		if omitEmpty && !v.Bool() {
			return b, false
		}
		return strconv.AppendBool(b, v.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if omitEmpty && v.Int() == 0 {
			return b, false
		}
		return strconv.AppendInt(b, v.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if omitEmpty && v.Uint() == 0 {
			return b, false
		}
		return strconv.AppendUint(b, v.Uint(), 10), true
	}
	if omitEmpty && v.IsZero() {
		return b, false
	}
	// Anything else (floats, maps, byte strings): as encoding/json has it.
	j, err := json.Marshal(v.Interface())
	if err != nil {
		return b, false
	}
	return append(b, j...), true
}

// appendDefinitionFields writes the fields of struct v, embedded structs
// inlined, and reports whether it wrote none.
func appendDefinitionFields(b []byte, v reflect.Value, none bool) ([]byte, bool) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("xml")
		if !f.IsExported() || f.Name == "XMLName" {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			b, none = appendDefinitionFields(b, v.Field(i), none)
			continue
		}
		mark := len(b)
		if !none {
			b = append(b, ',')
		}
		b = appendString(b, f.Name)
		b = append(b, ':')
		var ok bool
		if b, ok = appendDefinitionValue(b, v.Field(i), strings.Contains(tag, "omitempty")); !ok {
			b = b[:mark]
			continue
		}
		none = false
	}
	return b, none
}
