package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// protojson's decoding errors, e.g. `proto: (line 1:40): invalid value for string field amount: 10`.
var (
	invalidValuePattern = regexp.MustCompile(`invalid value for (\w+) (?:field|type) (\w+)?:? ?(.*)$`)
	unknownFieldPattern = regexp.MustCompile(`unknown field "([^"]+)"`)
)

// renamedFields names the public field to use where clients (and the seed) use another name.
var renamedFields = map[string]string{"account_id": "user_id"}

// withDecodeHint adds a google.rpc.BadRequest detail (and the same hint in the message) that says how to fix
// a JSON body grpc-gateway could not decode: amounts are decimal strings, enums are their proto names (listed)
// or numbers, fields are named by their proto names (listed). Other statuses are returned unchanged.
func withDecodeHint(ctx context.Context, s *status.Status) *status.Status {
	if s.Code() != codes.InvalidArgument || !strings.HasPrefix(s.Message(), "proto:") {
		return s
	}
	request := requestDescriptor(ctx)
	message := withProtoFieldName(request, s.Message())
	violation := decodeViolation(request, message)
	if violation == nil {
		return status.New(codes.InvalidArgument, message)
	}
	badRequest := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{violation}}
	hinted, err := status.New(codes.InvalidArgument, message+"; hint: "+violation.GetDescription()).
		WithDetails(protoadapt.MessageV1Of(badRequest))
	if err != nil {
		return s
	}
	return hinted
}

// requestDescriptor is the request message of the RPC being served (nil outside an RPC).
func requestDescriptor(ctx context.Context) protoreflect.MessageDescriptor {
	method, ok := runtime.RPCMethod(ctx) // "/exchange.v1.TradingService/PlaceOrder"
	if !ok {
		return nil
	}
	name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(method, "/"), "/", "."))
	found, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		return nil
	}
	if methodDescriptor, ok := found.(protoreflect.MethodDescriptor); ok {
		return methodDescriptor.Input()
	}
	return nil
}

func decodeViolation(request protoreflect.MessageDescriptor, message string) *errdetails.BadRequest_FieldViolation {
	if match := unknownFieldPattern.FindStringSubmatch(message); match != nil {
		field := match[1]
		hint := "field names are the proto names listed in /openapi.json"
		if request != nil {
			hint = fmt.Sprintf("%s has the fields %s (proto names)", request.Name(), strings.Join(fieldNames(request), ", "))
		}
		if renamed, ok := renamedFields[field]; ok {
			hint = fmt.Sprintf("the field is called %q; ", renamed) + hint
		}
		return &errdetails.BadRequest_FieldViolation{Field: field, Description: hint, Reason: "UNKNOWN_FIELD"}
	}
	match := invalidValuePattern.FindStringSubmatch(message)
	if match == nil {
		return nil
	}
	kind, field, value := match[1], match[2], match[3]
	switch {
	case kind == "string" && value != "" && !strings.HasPrefix(value, `"`):
		return &errdetails.BadRequest_FieldViolation{Field: field, Reason: "NOT_A_STRING", Description: fmt.Sprintf(
			"amounts, prices and quantities are decimal strings: write \"%s\": \"%s\", not a JSON number", field, value)}
	case kind == "enum":
		hint := fmt.Sprintf("%s is an enum: write a value's proto name (e.g. \"SIDE_BUY\") or its number", field)
		if enum := enumOfField(request, protoreflect.Name(field)); enum != nil {
			hint = fmt.Sprintf("%s is one of %s (proto names), or the value's number",
				field, strings.Join(quoted(enumValueNames(enum)), ", "))
		}
		return &errdetails.BadRequest_FieldViolation{Field: field, Reason: "UNKNOWN_ENUM_VALUE", Description: hint}
	}
	return nil
}

// withProtoFieldName rewrites the field of an "invalid value for <kind> field <name>" error to its proto name:
// protojson names it by its JSON name (userId), while the API documents, accepts and answers proto names (user_id).
func withProtoFieldName(request protoreflect.MessageDescriptor, message string) string {
	match := invalidValuePattern.FindStringSubmatchIndex(message)
	if match == nil || match[4] < 0 {
		return message
	}
	jsonName := message[match[4]:match[5]]
	field := findField(request, func(field protoreflect.FieldDescriptor) bool { return field.JSONName() == jsonName })
	if field == nil {
		return message
	}
	return message[:match[4]] + string(field.Name()) + message[match[5]:]
}

// enumOfField finds the enum of a field called name in message or the messages it contains (protojson's
// error names the field but not its path).
func enumOfField(message protoreflect.MessageDescriptor, name protoreflect.Name) protoreflect.EnumDescriptor {
	field := findField(message, func(field protoreflect.FieldDescriptor) bool {
		return field.Name() == name && field.Enum() != nil
	})
	if field == nil {
		return nil
	}
	return field.Enum()
}

// findField is the first field of message, or of the messages it contains (breadth first), that matches.
func findField(
	message protoreflect.MessageDescriptor, matches func(protoreflect.FieldDescriptor) bool,
) protoreflect.FieldDescriptor {
	seen := map[protoreflect.FullName]bool{}
	queue := []protoreflect.MessageDescriptor{message}
	for len(queue) > 0 && queue[0] != nil {
		current := queue[0]
		queue = queue[1:]
		if seen[current.FullName()] {
			continue
		}
		seen[current.FullName()] = true
		fields := current.Fields()
		for i := range fields.Len() {
			field := fields.Get(i)
			if matches(field) {
				return field
			}
			if field.Message() != nil {
				queue = append(queue, field.Message())
			}
		}
	}
	return nil
}

// enumValueNames lists the values a client may send (the zero UNSPECIFIED value is never valid input).
func enumValueNames(enum protoreflect.EnumDescriptor) []string {
	var names []string
	for i := range enum.Values().Len() {
		if value := enum.Values().Get(i); value.Number() != 0 {
			names = append(names, string(value.Name()))
		}
	}
	return names
}
