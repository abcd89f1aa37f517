package main

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// mapKeyPattern matches grpc-gateway's map syntax in query keys: `labels[key]=value`.
var mapKeyPattern = regexp.MustCompile(`^(.*)\[(.*)\]$`)

// strictQueryParser refuses a query parameter that names no field of the request message (grpc-gateway's
// default parser logs and ignores it, so `GET /v1/orders?bogus=1` used to list every order). A key is a
// field path as grpc-gateway accepts it: proto or JSON names, dots into singular message fields, and
// `field[key]` for maps. Known keys are then parsed by the default parser.
//
// grpc-gateway calls the parser only for bindings that have fields left for the query; the others (`body: "*"`,
// or every field in the path) are guarded by refuseQueryWithoutQueryFields.
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

// route is one REST binding as the query check needs it: its HTTP method, its path template split into
// segments ("" stands for a `{variable}` segment; nil segments match every path), and whether any request
// field is left for the query string.
type route struct {
	method      string
	segments    []string
	takesQuery  bool
	anyPathOkay bool
}

// bindingRoutes reads every google.api.http binding of the exchange.v1 services from the registered
// descriptors, so the check follows the protos without a list to keep in step.
func bindingRoutes() []route {
	var routes []route
	protoregistry.GlobalFiles.RangeFilesByPackage("exchange.v1", func(file protoreflect.FileDescriptor) bool {
		for i := range file.Services().Len() {
			methods := file.Services().Get(i).Methods()
			for j := range methods.Len() {
				rule, ok := proto.GetExtension(methods.Get(j).Options(), annotations.E_Http).(*annotations.HttpRule)
				if !ok || rule == nil {
					continue
				}
				for _, binding := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					if each, ok := newRoute(binding, methods.Get(j).Input()); ok {
						routes = append(routes, each)
					}
				}
			}
		}
		return true
	})
	return routes
}

func newRoute(rule *annotations.HttpRule, input protoreflect.MessageDescriptor) (route, bool) {
	var method, path string
	switch pattern := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		method, path = http.MethodGet, pattern.Get
	case *annotations.HttpRule_Post:
		method, path = http.MethodPost, pattern.Post
	case *annotations.HttpRule_Put:
		method, path = http.MethodPut, pattern.Put
	case *annotations.HttpRule_Delete:
		method, path = http.MethodDelete, pattern.Delete
	case *annotations.HttpRule_Patch:
		method, path = http.MethodPatch, pattern.Patch
	default:
		return route{}, false
	}
	bound := map[string]bool{rule.GetBody(): true}
	result := route{method: method}
	for _, segment := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		switch {
		case strings.ContainsAny(segment, "*=:"):
			result.anyPathOkay = true // a wildcard or verb template: match every path (never refuse wrongly)
		case strings.HasPrefix(segment, "{"):
			bound[strings.Trim(segment, "{}")] = true
			result.segments = append(result.segments, "")
		default:
			result.segments = append(result.segments, segment)
		}
	}
	for i := range input.Fields().Len() {
		if !bound["*"] && !bound[string(input.Fields().Get(i).Name())] {
			result.takesQuery = true
		}
	}
	return result, true
}

func (r route) matches(method string, segments []string) bool {
	if r.method != method {
		return false
	}
	if r.anyPathOkay {
		return true
	}
	if len(r.segments) != len(segments) {
		return false
	}
	for i, segment := range r.segments {
		if segment != "" && segment != segments[i] {
			return false
		}
	}
	return true
}

// allowedMethods lists the HTTP methods some binding takes on path, sorted.
func allowedMethods(routes []route, path string) []string {
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var methods []string
	for _, each := range routes {
		if each.matches(each.method, segments) && !slices.Contains(methods, each.method) {
			methods = append(methods, each.method)
		}
	}
	slices.Sort(methods)
	return methods
}

// refuseQueryWithoutQueryFields answers 400 to a request with a query string when every binding it can reach
// takes nothing from the query (a `body: "*"` binding, or one whose fields are all in the path): grpc-gateway
// never calls the query parser for those, so strictQueryParser cannot see their unknown parameters.
func refuseQueryWithoutQueryFields(next http.Handler, mux *runtime.ServeMux, routes []route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "" {
			next.ServeHTTP(w, r)
			return
		}
		segments := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		reached, takesQuery := false, false
		for _, each := range routes {
			if each.matches(r.Method, segments) {
				reached, takesQuery = true, takesQuery || each.takesQuery
			}
		}
		if !reached || takesQuery {
			next.ServeHTTP(w, r)
			return
		}
		keys := make([]string, 0, len(r.URL.Query()))
		for key := range r.URL.Query() {
			keys = append(keys, key)
		}
		slices.Sort(keys)
		err := status.Errorf(codes.InvalidArgument, "unknown query parameter %s; %s %s takes no query parameters",
			strings.Join(quoted(keys), ", "), r.Method, r.URL.Path)
		_, marshaler := runtime.MarshalerForRequest(mux, r)
		errorHandler(r.Context(), mux, marshaler, w, r, err)
	})
}
