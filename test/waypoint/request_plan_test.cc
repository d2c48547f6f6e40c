// The waypoint's per-request decision (waypoint/proxy/request_plan.h) over a real L7 snapshot
// built from the Resources istiod sends: default routing, GAMMA routes and 404, redirects,
// weighted backends, header filters, L7 DENY with path-normalization bypass attempts, and the
// path that is forwarded being the one that was checked.
#include <doctest/doctest.h>
#include <google/protobuf/text_format.h>

#include "waypoint/proxy/request_plan.h"

using namespace ambit;
using namespace ambit::waypoint;
namespace v1 = ::ambit::waypoint::v1;

namespace {

const char* kHost = "reviews.bookinfo.svc.cluster.local";

void add(L7ConfigStore& store, const std::string& name, const std::string& text) {
  v1::Resource r;
  REQUIRE_MESSAGE(google::protobuf::TextFormat::ParseFromString(text, &r), text);
  auto s = store.upsert(name, r.SerializeAsString());
  REQUIRE_MESSAGE(s.ok(), s.message());
}

void add_listener(L7ConfigStore& store) {
  v1::Resource r;
  auto* l = r.mutable_listener();
  l->mutable_service()->set_namespace_("bookinfo");
  l->mutable_service()->set_hostname(kHost);
  l->set_port(9080);
  l->add_addresses()->set_address(net::IpAddr::parse("10.96.0.12")->bytes());
  REQUIRE(store.upsert(std::string("listener/bookinfo/") + kHost + ":9080", r.SerializeAsString()).ok());
}

const char* kRoute = R"(route {
  kind: HTTP_ROUTE namespace: "bookinfo" name: "reviews"
  parents { service { namespace: "bookinfo" hostname: "reviews.bookinfo.svc.cluster.local" } }
  rules {
    matches { path { prefix: "/v2" } }
    filters { request_header_modifier { set { name: "x-version" value: "v2" } remove: "x-drop" } }
    filters { response_header_modifier { add { name: "x-served-by" value: "v2" } } }
    backends { ref { service { namespace: "bookinfo" hostname: "reviews-v2.bookinfo.svc.cluster.local" } port: 9080 } }
  }
  rules {
    matches { path { exact: "/old" } }
    filters { request_redirect { path { replace_full_path: "/new" } status_code: 301 } }
  }
  rules {
    matches { path { prefix: "/split" } }
    backends { ref { service { namespace: "bookinfo" hostname: "a.bookinfo.svc.cluster.local" } port: 80 } weight: 90 }
    backends { ref { service { namespace: "bookinfo" hostname: "b.bookinfo.svc.cluster.local" } port: 80 } weight: 10 }
  }
  rules {
    matches { path { prefix: "/broken" } }
    backends { ref { invalid: "service nowhere not found" } }
  }
})";

const char* kDenyAdmin = R"(authorization {
  namespace: "bookinfo" name: "deny-admin" action: DENY
  targets { service { namespace: "bookinfo" hostname: "reviews.bookinfo.svc.cluster.local" } }
  rules { to { paths { prefix: "/admin" } } }
})";

struct Fixture {
  L7ConfigStore store;
  Peer peer{*net::IpAddr::parse("10.40.1.2"), SpiffeId::parse("spiffe://cluster.local/ns/bookinfo/sa/productpage").value()};
  net::IpAddr vip = *net::IpAddr::parse("10.96.0.12");

  Plan plan(std::string method, std::string path, uint64_t draw = 0, http::RequestHead* out = nullptr) {
    auto snap = store.current();
    const Listener* l = snap->listener_for("10.96.0.12:9080");
    REQUIRE(l != nullptr);
    http::RequestHead h;
    h.method = std::move(method);
    h.scheme = "http";
    h.authority = "10.96.0.12:9080";
    h.path = std::move(path);
    h.headers.add("x-drop", "1");
    Plan p = plan_request(*snap, *l, peer, vip, h, draw);
    if (out) *out = h;
    return p;
  }
};

}  // namespace

TEST_CASE("request plan: no route at all sends the request to the service itself") {
  Fixture f;
  add_listener(f.store);
  f.store.commit();
  Plan p = f.plan("GET", "/anything");
  REQUIRE(p.kind == Plan::Kind::kForward);
  REQUIRE(p.backend.service.has_value());
  CHECK(p.backend.service->hostname == kHost);
  CHECK(p.backend.port == 9080);
  CHECK(p.route.empty());
}

TEST_CASE("request plan: GAMMA routes — a match forwards with its filters, no match is 404") {
  Fixture f;
  add_listener(f.store);
  add(f.store, "route/HTTPRoute/bookinfo/reviews", kRoute);
  f.store.commit();
  http::RequestHead h;
  Plan p = f.plan("GET", "/v2/ratings", 0, &h);
  REQUIRE(p.kind == Plan::Kind::kForward);
  CHECK(p.backend.service->hostname == "reviews-v2.bookinfo.svc.cluster.local");
  CHECK(p.route == "bookinfo/reviews");
  CHECK(h.headers.get("x-version") == "v2");
  CHECK_FALSE(h.headers.contains("x-drop"));
  REQUIRE(p.response_modifiers.size() == 1);

  Plan nf = f.plan("GET", "/v3");
  CHECK(nf.kind == Plan::Kind::kRespond);
  CHECK(nf.status == 404);
  CHECK(nf.response_flags == "NR");
}

TEST_CASE("request plan: a redirect answers locally with Location") {
  Fixture f;
  add_listener(f.store);
  add(f.store, "route/HTTPRoute/bookinfo/reviews", kRoute);
  f.store.commit();
  Plan p = f.plan("GET", "/old?x=1");
  REQUIRE(p.kind == Plan::Kind::kRespond);
  CHECK(p.status == 301);
  REQUIRE(p.headers.get("location").has_value());
  CHECK(p.headers.get("location")->find("/new") != std::string_view::npos);
}

TEST_CASE("request plan: weighted backends follow the draw, an invalid backend is 500") {
  Fixture f;
  add_listener(f.store);
  add(f.store, "route/HTTPRoute/bookinfo/reviews", kRoute);
  f.store.commit();
  int a = 0;
  for (uint64_t d = 0; d < 1000; ++d) {
    Plan p = f.plan("GET", "/split", d);
    REQUIRE(p.kind == Plan::Kind::kForward);
    if (p.backend.service->hostname == "a.bookinfo.svc.cluster.local") ++a;
  }
  CHECK(a == 900);  // draws 0..999 over weights 90/10: exactly 900 land on a
  Plan b = f.plan("GET", "/broken");
  CHECK(b.kind == Plan::Kind::kRespond);
  CHECK(b.status == 500);
}

TEST_CASE("request plan: L7 DENY on a path holds against normalization bypasses, the checked path is forwarded") {
  Fixture f;
  add_listener(f.store);
  add(f.store, "authorization/bookinfo/deny-admin", kDenyAdmin);
  f.store.commit();
  for (const char* path : {"/admin", "/admin/", "/admin/../admin", "/%61dmin", "/x/../admin/users", "/admin?debug=1",
                           "/admin#frag", "/./admin", "/x\\..\\admin"}) {
    Plan p = f.plan("GET", path);
    CHECK_MESSAGE(p.kind == Plan::Kind::kRespond, std::string(path));
    std::string what = std::string(path) + " " + p.detail;
    CHECK_MESSAGE(p.status == 403, what);
    CHECK(p.body == "RBAC: access denied");
    CHECK(p.policy == "bookinfo/deny-admin");
    CHECK(p.response_flags == "RBAC");
  }
  http::RequestHead h;
  Plan ok = f.plan("GET", "/public/../reviews/1?x=2", 0, &h);
  REQUIRE(ok.kind == Plan::Kind::kForward);
  CHECK(h.path == "/reviews/1?x=2");
}

TEST_CASE("request plan: a lower-case method or an undecodable path is refused with 400") {
  Fixture f;
  add_listener(f.store);
  f.store.commit();
  CHECK(f.plan("get", "/").status == 400);
  CHECK(f.plan("GET", "/a%00b").status == 400);
  CHECK(f.plan("GET", "/a%zzb").status == 400);
  CHECK(f.plan("GET", "\\admin").status == 400);  // not origin-form: refused, never matched around
}
