// Gateway API kinds (GatewayClass, Gateway, HTTPRoute, GRPCRoute; gateway.networking.k8s.io/v1)
// from YAML, with the CRD's validation: its enums, list limits and CEL rules as written in
// kubernetes-sigs/gateway-api apis/v1/*_types.go, plus what that leaves to implementations and
// this one needs (regular expressions must compile as RE2, the engine Envoy and Istio use).
// A violation throws parse::FieldError naming the field ("spec.rules[1].matches[0].path.value"),
// which parse_yaml turns into that object's rejection. Called by config/yaml_parser.cc only.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "istiod/config/field.h"
#include "istiod/model/objects.h"

namespace ambit::istiod::parse {

GatewayClass parse_gateway_class(const Field& spec);
Gateway parse_gateway(const Field& spec, const Field& status);
HTTPRoute parse_http_route(const Field& spec);
GRPCRoute parse_grpc_route(const Field& spec);

// Gateway API Duration (GEP-2257): one to four <1-5 digits><h|m|s|ms> groups, e.g. "1h30m",
// "500ms", "0s". nullopt when `s` does not have that form.
std::optional<std::chrono::milliseconds> parse_gateway_duration(std::string_view s);

}  // namespace ambit::istiod::parse
