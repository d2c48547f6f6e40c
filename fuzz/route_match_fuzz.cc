// libFuzzer target: the waypoint's route table (waypoint/l7/route_table.h).
//  - first byte even: the rest is a request (path \n query \n method \n header value \n draw)
//    matched against a fixed table with every match kind; a routed decision's match really
//    matches the path, the rewrite/redirect helpers keep paths absolute, and a picked backend
//    belongs to the rule.
//  - first byte odd: the rest is a serialized ambit.waypoint.v1.Route (what istiod sends);
//    compiling it never crashes, a rejection says why, and an accepted route can be matched.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/text_format.h>

#include "common/base/strings.h"
#include "waypoint/l7/filters.h"
#include "waypoint/l7/path_normalize.h"
#include "waypoint/l7/route_table.h"

namespace {

namespace pb = ambit::waypoint::v1;
using namespace ambit::waypoint::l7;

const ServiceKey kSvc{"default", "reviews.default.svc.cluster.local"};

const char* const kRoutes[] = {
    R"(namespace: "default" name: "http"
       parents { service { namespace: "default" hostname: "reviews.default.svc.cluster.local" } }
       rules { name: "exact" matches { path { exact: "/a/b" } } }
       rules { name: "prefix" matches { path { prefix: "/api/" } method: "POST" }
               filters { url_rewrite { path { replace_prefix_match: "/v2" } } }
               backends { ref { workload_uid: "w1" port: 80 } weight: 3 }
               backends { ref { workload_uid: "w2" port: 80 } } }
       rules { name: "regex" matches { path { regex: "/(x|y)+[0-9]*" } query_params { name: "q" regex: "a.*" } } }
       rules { name: "hdr" matches { headers { name: "x-v" exact: "2" } headers { name: "x-u" regex: "[a-z]+" } } }
       rules { name: "redirect" matches { path { prefix: "/old" } }
               filters { request_redirect { path { replace_prefix_match: "/new" } status_code: 301 } } })",
    R"(namespace: "default" name: "grpc" kind: GRPC_ROUTE
       parents { service { namespace: "default" hostname: "reviews.default.svc.cluster.local" } port: 9090 }
       rules { matches { grpc { service: "pkg.Svc" method: "M" } } }
       rules { matches { grpc { regex: true method: "Get.*" } } })",
};

std::shared_ptr<const RouteTable> fixed_table() {
  static std::vector<pb::Route>* protos = [] {
    auto* v = new std::vector<pb::Route>();
    for (const char* text : kRoutes) {
      pb::Route r;
      if (!google::protobuf::TextFormat::ParseFromString(text, &r)) std::abort();
      v->push_back(r);
    }
    return v;
  }();
  static std::shared_ptr<const RouteTable> t = [] {
    std::vector<const pb::Route*> ptrs;
    for (const auto& r : *protos) ptrs.push_back(&r);
    std::vector<std::string> errors;
    auto built = RouteTable::build(ptrs, &errors);
    if (!errors.empty()) std::abort();
    return built;
  }();
  return t;
}

void check_decision(const RouteDecision& d, std::string_view path, std::string_view query,
                    uint64_t draw) {
  if (d.kind != RouteDecision::Kind::kRoute) return;
  if (d.route == nullptr || d.rule == nullptr || d.match == nullptr) std::abort();
  if (!d.match->path_matches(path)) std::abort();
  RequestContext ctx;
  ctx.authority = "reviews:9080";
  ctx.path = path;
  ctx.query = query;
  ctx.matched_prefix = d.matched_prefix;
  ctx.listener_port = 9080;
  for (const CompiledFilter& f : d.rule->filters) {
    if (const auto* r = std::get_if<RequestRedirect>(&f)) {
      Redirect out = redirect_response(*r, ctx);
      if (out.location.find("://") == std::string::npos) std::abort();
    }
    if (const auto* r = std::get_if<UrlRewrite>(&f)) {
      if (rewrite_path(r->path, ctx).empty() || rewrite_path(r->path, ctx)[0] != '/') std::abort();
    }
  }
  const Backend* b = pick_backend(*d.rule, draw);
  if (b != nullptr && (b < d.rule->backends.data() ||
                       b >= d.rule->backends.data() + d.rule->backends.size())) {
    std::abort();
  }
  if ((b == nullptr) != (d.rule->total_weight == 0)) std::abort();
}

void fuzz_request(std::string_view in) {
  std::vector<std::string_view> parts = ambit::split(in, '\n');
  parts.resize(5);
  auto norm = normalize_path(parts[0], PathNormalization::kBase);
  if (!norm.ok()) return;
  HeaderMap headers;
  headers.add("x-v", parts[3]);
  headers.add("x-u", parts[3]);
  uint64_t draw = 0;
  for (char c : parts[4]) draw = draw * 131 + static_cast<unsigned char>(c);
  const RouteTable& t = *fixed_table();
  for (uint16_t port : {9080, 9090}) {
    RouteRequest req{"reviews:9080", norm->path, parts[1], parts[2], &headers};
    check_decision(t.match(kSvc, port, req), norm->path, parts[1], draw);
  }
}

void fuzz_route(std::string_view in) {
  pb::Route r;
  if (!r.ParseFromArray(in.data(), static_cast<int>(in.size()))) return;
  auto c = compile_route(r);
  if (!c.ok()) {
    if (c.status().message().empty()) std::abort();
    return;
  }
  std::vector<std::string> errors;
  auto t = RouteTable::build({&r}, &errors);
  if (!errors.empty() || t->route_count() != 1) std::abort();
  HeaderMap headers{{"x", "y"}};
  for (const char* path : {"/", "/a", "/a/b/c"}) {
    for (const ServiceKey& svc : {kSvc, ServiceKey{"other", "x"}}) {
      check_decision(t->match(svc, 80, RouteRequest{"h:80", path, "a=b", "GET", &headers}), path,
                     "a=b", 7);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    fuzz_route(in);
  } else {
    fuzz_request(in);
  }
  return 0;
}
