// The waypoint's L7 config store: resources keyed as istiod names them, NACKs that keep the
// previous version, listeners found by VIP:port or hostname:port, and snapshots swapped whole.
#include <doctest/doctest.h>

#include "waypoint/state/l7_config.h"

using namespace ambit;
using namespace ambit::waypoint;
namespace v1 = ::ambit::waypoint::v1;

namespace {

v1::Resource listener(const std::string& ns, const std::string& host, uint32_t port, const std::vector<std::string>& vips) {
  v1::Resource r;
  auto* l = r.mutable_listener();
  l->mutable_service()->set_namespace_(ns);
  l->mutable_service()->set_hostname(host);
  l->set_port(port);
  for (const auto& v : vips) l->add_addresses()->set_address(net::IpAddr::parse(v)->bytes());
  return r;
}

std::string bytes(const v1::Resource& r) { return r.SerializeAsString(); }

}  // namespace

TEST_CASE("L7 config: a listener is found by VIP:port, [v6]:port and hostname:port, nothing else") {
  L7ConfigStore store;
  auto r = listener("bookinfo", "reviews.bookinfo.svc.cluster.local", 9080, {"10.96.0.12", "fd00::12"});
  REQUIRE(store.upsert("listener/bookinfo/reviews.bookinfo.svc.cluster.local:9080", bytes(r)).ok());
  CHECK(store.current()->listener_for("10.96.0.12:9080") == nullptr);  // not committed yet
  store.commit();
  auto snap = store.current();
  for (const char* a : {"10.96.0.12:9080", "[fd00::12]:9080", "[FD00:0::12]:9080", "reviews.bookinfo.svc.cluster.local:9080",
                        "Reviews.Bookinfo.svc.cluster.local:9080"}) {
    const Listener* l = snap->listener_for(a);
    REQUIRE_MESSAGE(l != nullptr, a);
    CHECK(l->service.hostname == "reviews.bookinfo.svc.cluster.local");
    CHECK(l->port == 9080);
  }
  for (const char* a : {"10.96.0.12:9081", "10.96.0.13:9080", "reviews:9080", "", "10.96.0.12"}) {
    CHECK_MESSAGE(snap->listener_for(a) == nullptr, a);
  }
}

TEST_CASE("L7 config: a resource whose name is not its key is refused and the previous version stays") {
  L7ConfigStore store;
  auto good = listener("ns", "a.ns.svc.cluster.local", 80, {"10.96.0.1"});
  REQUIRE(store.upsert("listener/ns/a.ns.svc.cluster.local:80", bytes(good)).ok());
  store.commit();
  auto moved = listener("ns", "a.ns.svc.cluster.local", 81, {"10.96.0.1"});
  auto s = store.upsert("listener/ns/a.ns.svc.cluster.local:80", bytes(moved));
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("keyed listener/ns/a.ns.svc.cluster.local:81") != std::string::npos);
  CHECK(store.upsert("x", "\xff\xff not a proto").code() == absl::StatusCode::kInvalidArgument);
  store.commit();
  CHECK(store.current()->listener_for("10.96.0.1:80") != nullptr);
  CHECK(store.current()->listener_for("10.96.0.1:81") == nullptr);
}

TEST_CASE("L7 config: commit publishes a new snapshot, one already taken is unchanged") {
  L7ConfigStore store;
  REQUIRE(store.upsert("listener/ns/a.ns.svc.cluster.local:80", bytes(listener("ns", "a.ns.svc.cluster.local", 80, {}))).ok());
  v1::Resource mesh;
  mesh.mutable_mesh()->set_path_normalization(v1::MeshSettings::MERGE_SLASHES);
  REQUIRE(store.upsert("mesh", bytes(mesh)).ok());
  store.commit();
  auto before = store.current();
  CHECK(before->normalization == l7::PathNormalization::kMergeSlashes);
  store.remove("listener/ns/a.ns.svc.cluster.local:80");
  store.remove("mesh");
  store.commit();
  auto after = store.current();
  CHECK(after->version == before->version + 1);
  CHECK(before->listener_for("a.ns.svc.cluster.local:80") != nullptr);
  CHECK(after->listener_for("a.ns.svc.cluster.local:80") == nullptr);
  CHECK(after->normalization == l7::PathNormalization::kBase);
}
