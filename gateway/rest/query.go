package main

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// mapKeyPattern matches grpc-gateway's map syntax in query keys: `labels[key]=value`.
var mapKeyPattern = regexp.MustCompile(`^(.*)\[(.*)\]$`)

// strictQueryParser refuses a query parameter that names no field of the request message (grpc-gateway's
// default parser logs and ignores it, so `GET /v1/orders?bogus=1` used to list every order). A key is a
// field path as grpc-gateway accepts it: proto or JSON names, dots into singular message fields, and
// `field[key]` for maps. Known keys are then parsed by the default parser.
//
// grpc-gateway calls the parser only for bindings that have fields left for the query (not for `body: "*"`
// or a request message whose fields are all in the path); see README.md.
type strictQueryParser struct {
	next runtime.QueryParameterParser
}

// Parse implements runtime.QueryParameterParser.
func (p strictQueryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	descriptor := msg.ProtoReflect().Descriptor()
	var unknown []string
	for key := range values {
		fieldKey := key
		if match := mapKeyPattern.FindStringSubmatch(key); match != nil {
			fieldKey = match[1]
		}
		if !isFieldPath(descriptor, strings.Split(fieldKey, ".")) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown query parameter %s; %s accepts %s",
			strings.Join(quoted(unknown), ", "), descriptor.Name(), strings.Join(fieldNames(descriptor), ", "))
	}
	return p.next.Parse(msg, values, filter)
}

// isFieldPath says whether path names a field of message, each step but the last a singular message field.
func isFieldPath(message protoreflect.MessageDescriptor, path []string) bool {
	for i, name := range path {
		field := message.Fields().ByTextName(name)
		if field == nil {
			field = message.Fields().ByJSONName(name)
		}
		if field == nil {
			return false
		}
		if i == len(path)-1 {
			return true
		}
		if field.Message() == nil || field.Cardinality() == protoreflect.Repeated {
			return false
		}
		message = field.Message()
	}
	return false
}

func fieldNames(message protoreflect.MessageDescriptor) []string {
	names := make([]string, 0, message.Fields().Len())
	for i := range message.Fields().Len() {
		names = append(names, string(message.Fields().Get(i).Name()))
	}
	return names
}

func quoted(values []string) []string {
	out := make([]string, len(values))
	for i, value := range values {
		out[i] = fmt.Sprintf("%q", value)
	}
	return out
}
