// Wire compatibility: every documented field of every contract is set, the message serialized,
// and the field numbers read back from the raw bytes with an independent decoder are compared
// with the field numbers Istio and Envoy publish in their .proto files (the expected numbers are
// written out below, not read from api/). A renumbered field fails here.
#include <doctest/doctest.h>

#include <set>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/discovery/v3/ads.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "google/protobuf/descriptor.h"
#include "istio/security/authorization.pb.h"
#include "istio/v1/auth/ca.grpc.pb.h"
#include "istio/workload/workload.pb.h"
#include "istio/workload/zds/zds.pb.h"

namespace {

// Minimal protobuf wire reader: returns the top-level field numbers present in `bytes`.
std::set<int> field_numbers(const std::string& bytes) {
  std::set<int> out;
  size_t i = 0;
  auto varint = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; i < bytes.size() && shift < 64; shift += 7) {
      uint8_t b = static_cast<uint8_t>(bytes[i++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  while (i < bytes.size()) {
    uint64_t key = 0;
    REQUIRE(varint(&key));
    int field = static_cast<int>(key >> 3), wt = static_cast<int>(key & 7);
    out.insert(field);
    uint64_t v = 0;
    switch (wt) {
      case 0: REQUIRE(varint(&v)); break;
      case 1: i += 8; break;
      case 5: i += 4; break;
      case 2: REQUIRE(varint(&v)); i += v; break;
      default: FAIL("unexpected wire type ", wt);
    }
  }
  REQUIRE(i == bytes.size());
  return out;
}

std::set<int> fields(const google::protobuf::Message& m) { return field_numbers(m.SerializeAsString()); }

const std::string kIp4("\x0a\x00\x00\x01", 4);

}  // namespace

using namespace istio;

TEST_CASE("istio.workload.Workload field numbers") {
  workload::Workload w;
  w.set_uid("Kubernetes//Pod/default/sleep-1");
  w.set_name("sleep-1");
  w.set_namespace_("default");
  w.add_addresses(kIp4);
  w.set_hostname("h");
  w.set_network("net");
  w.set_tunnel_protocol(workload::HBONE);
  w.set_trust_domain("cluster.local");
  w.set_service_account("sleep");
  w.mutable_waypoint()->set_hbone_mtls_port(15008);
  w.mutable_network_gateway()->set_hbone_mtls_port(15009);
  w.set_node("node1");
  w.set_canonical_name("sleep");
  w.set_canonical_revision("v1");
  w.set_workload_type(workload::POD);
  w.set_workload_name("sleep");
  w.set_native_tunnel(true);
  w.mutable_application_tunnel()->set_port(15088);
  (*w.mutable_services())["default/sleep.default.svc.cluster.local"].add_ports()->set_service_port(80);
  w.add_authorization_policies("default/p");
  w.set_status(workload::UNHEALTHY);
  w.set_cluster_id("Kubernetes");
  w.mutable_locality()->set_region("r");
  w.set_network_mode(workload::HOST_NETWORK);
  w.add_extensions()->set_name("e");
  w.mutable_capacity()->set_value(2);
  CHECK(fields(w) == std::set<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19,
                                   20, 21, 22, 23, 24, 25, 26, 27});
}

TEST_CASE("istio.workload.Service and nested message field numbers") {
  workload::Service s;
  s.set_name("n");
  s.set_namespace_("ns");
  s.set_hostname("h.ns.svc.cluster.local");
  auto* a = s.add_addresses();
  a->set_network("net");
  a->set_address(kIp4);
  a->set_length(32);
  auto* p = s.add_ports();
  p->set_service_port(80);
  p->set_target_port(8080);
  p->set_app_protocol(workload::HTTP2);
  s.add_subject_alt_names("spiffe://cluster.local/ns/ns/sa/x");
  s.mutable_waypoint()->mutable_hostname()->set_hostname("wp");
  s.mutable_load_balancing()->set_mode(workload::LoadBalancing::STRICT);
  s.set_ip_families(workload::DUAL);
  s.add_extensions()->set_name("e");
  s.set_canonical(true);
  s.set_ingress_use_waypoint(true);
  s.add_weighted_waypoints()->set_weight(3);
  s.set_visibility(workload::Service::NAMESPACE);
  CHECK(fields(s) == std::set<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
  CHECK(fields(*a) == std::set<int>{1, 2, 3});
  CHECK(fields(*p) == std::set<int>{1, 2, 3});

  workload::GatewayAddress g1, g2;
  g1.mutable_hostname()->set_namespace_("ns");
  g1.mutable_hostname()->set_hostname("wp");
  g1.set_hbone_mtls_port(15008);
  g2.mutable_address()->set_address(kIp4);
  CHECK(fields(g1) == std::set<int>{1, 3});
  CHECK(fields(g2) == std::set<int>{2});
  CHECK(fields(g1.hostname()) == std::set<int>{1, 2});

  workload::LoadBalancing lb;
  lb.add_routing_preference(workload::LoadBalancing::NODE);
  lb.set_mode(workload::LoadBalancing::FAILOVER);
  lb.set_health_policy(workload::LoadBalancing::ALLOW_ALL);
  CHECK(fields(lb) == std::set<int>{1, 2, 3});
  workload::ApplicationTunnel at;
  at.set_protocol(workload::ApplicationTunnel::PROXY);
  at.set_port(15088);
  CHECK(fields(at) == std::set<int>{1, 2});
  workload::Locality loc;
  loc.set_region("r");
  loc.set_zone("z");
  loc.set_subzone("s");
  CHECK(fields(loc) == std::set<int>{1, 2, 3});
  workload::WeightedWaypoint ww;
  ww.mutable_destination()->set_hbone_mtls_port(1);
  ww.set_weight(1);
  CHECK(fields(ww) == std::set<int>{1, 2});
  workload::Extension ext;
  ext.set_name("n");
  ext.mutable_config()->set_type_url("t");
  CHECK(fields(ext) == std::set<int>{1, 2});

  workload::Address wa, sa;
  wa.mutable_workload()->set_uid("u");
  sa.mutable_service()->set_hostname("h");
  CHECK(fields(wa) == std::set<int>{1});
  CHECK(fields(sa) == std::set<int>{2});
}

TEST_CASE("istio.security.Authorization field numbers") {
  security::Authorization a;
  a.set_name("p");
  a.set_namespace_("ns");
  a.set_scope(security::WORKLOAD_SELECTOR);
  a.set_action(security::DENY);
  auto* m = a.add_rules()->add_clauses()->add_matches();
  a.set_dry_run(true);
  a.add_extensions()->set_name("e");
  CHECK(fields(a) == std::set<int>{1, 2, 3, 4, 5, 6, 7});
  CHECK(fields(a.rules(0)) == std::set<int>{1});
  CHECK(fields(a.rules(0).clauses(0)) == std::set<int>{2});

  m->add_namespaces()->set_exact("a");
  m->add_not_namespaces()->set_prefix("b");
  m->add_principals()->set_suffix("c");
  m->add_not_principals()->mutable_presence();
  auto* ip = m->add_source_ips();
  ip->set_address(kIp4);
  ip->set_length(24);
  m->add_not_source_ips()->set_address(kIp4);
  m->add_destination_ips()->set_address(kIp4);
  m->add_not_destination_ips()->set_address(kIp4);
  m->add_destination_ports(80);
  m->add_not_destination_ports(81);
  auto* sa = m->add_service_accounts();
  sa->set_namespace_("ns");
  sa->set_serviceaccount("sa");
  m->add_not_service_accounts()->set_namespace_("x");
  m->add_extensions()->set_name("e");
  CHECK(fields(*m) == std::set<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13});
  CHECK(fields(*ip) == std::set<int>{1, 2});
  CHECK(fields(*sa) == std::set<int>{1, 2});
  CHECK(fields(m->namespaces(0)) == std::set<int>{1});
  CHECK(fields(m->not_namespaces(0)) == std::set<int>{2});
  CHECK(fields(m->principals(0)) == std::set<int>{3});
  CHECK(fields(m->not_principals(0)) == std::set<int>{4});
}

TEST_CASE("istio.v1.auth CA messages and method path") {
  v1::auth::IstioCertificateRequest req;
  req.set_csr("pem");
  req.set_validity_duration(86400);
  (*req.mutable_metadata()->mutable_fields())["ImpersonatedIdentity"].set_string_value("spiffe://x/ns/a/sa/b");
  CHECK(fields(req) == std::set<int>{1, 3, 4});
  v1::auth::IstioCertificateResponse res;
  res.add_cert_chain("leaf");
  CHECK(fields(res) == std::set<int>{1});
  auto* method = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
      "istio.v1.auth.IstioCertificateService.CreateCertificate");
  REQUIRE(method != nullptr);
  CHECK(std::string(v1::auth::IstioCertificateService::service_full_name()) ==
        "istio.v1.auth.IstioCertificateService");
}

TEST_CASE("istio.workload.zds messages") {
  workload::zds::ZdsHello hello;
  hello.set_version(workload::zds::V1);
  CHECK(fields(hello) == std::set<int>{1});
  CHECK(hello.SerializeAsString() == std::string("\x08\x01", 2));

  workload::zds::WorkloadRequest add, del, snap, keep;
  auto* a = add.mutable_add();
  a->set_uid("uid");
  a->mutable_workload_info()->set_name("n");
  a->mutable_workload_info()->set_namespace_("ns");
  a->mutable_workload_info()->set_service_account("sa");
  del.mutable_del()->set_uid("uid");
  snap.mutable_snapshot_sent();
  keep.mutable_keep()->set_uid("uid");
  CHECK(fields(add) == std::set<int>{1});
  CHECK(fields(*a) == std::set<int>{1, 2});
  CHECK(fields(a->workload_info()) == std::set<int>{1, 2, 3});
  CHECK(fields(del) == std::set<int>{2});
  CHECK(fields(del.del()) == std::set<int>{2});  // DelWorkload.uid is field 2
  CHECK(fields(snap) == std::set<int>{3});
  CHECK(fields(keep) == std::set<int>{5});
  CHECK(fields(keep.keep()) == std::set<int>{1});

  workload::zds::WorkloadResponse r;
  r.mutable_ack()->set_error("nack");
  CHECK(fields(r) == std::set<int>{1});
  CHECK(fields(r.ack()) == std::set<int>{1});
}

TEST_CASE("envoy delta discovery messages, Node and the ADS method") {
  using namespace envoy::service::discovery::v3;
  DeltaDiscoveryRequest req;
  req.mutable_node()->set_id("ztunnel~10.0.0.1~ztunnel-x.istio-system~istio-system.svc.cluster.local");
  req.set_type_url("type.googleapis.com/istio.workload.Address");
  req.add_resource_names_subscribe("*");
  req.add_resource_names_unsubscribe("x");
  (*req.mutable_initial_resource_versions())["a"] = "1";
  req.set_response_nonce("n");
  req.mutable_error_detail()->set_message("bad");
  req.add_resource_locators_subscribe()->set_name("l");
  req.add_resource_locators_unsubscribe()->set_name("l");
  CHECK(fields(req) == std::set<int>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(fields(req.error_detail()) == std::set<int>{2});

  DeltaDiscoveryResponse res;
  res.set_system_version_info("v");
  res.add_resources()->set_name("r");
  res.set_type_url("t");
  res.set_nonce("n");
  res.add_removed_resources("gone");
  res.mutable_control_plane()->set_identifier("istiod");
  res.add_removed_resource_names()->set_name("gone");
  res.add_resource_errors()->mutable_error_detail()->set_code(3);
  CHECK(fields(res) == std::set<int>{1, 2, 4, 5, 6, 7, 8, 9});

  Resource r;
  r.set_version("1");
  r.mutable_resource()->set_type_url("type.googleapis.com/istio.workload.Address");
  r.set_name("n");
  r.add_aliases("/10.0.0.1");
  r.mutable_ttl()->set_seconds(1);
  r.mutable_cache_control()->set_do_not_cache(true);
  r.mutable_resource_name()->set_name("n");
  r.mutable_metadata()->mutable_filter_metadata();
  (*r.mutable_metadata()->mutable_filter_metadata())["k"];
  CHECK(fields(r) == std::set<int>{1, 2, 3, 4, 6, 7, 8, 9});
  CHECK(fields(r.cache_control()) == std::set<int>{1});

  envoy::config::core::v3::Node n;
  n.set_id("id");
  n.set_cluster("c");
  (*n.mutable_metadata()->mutable_fields())["NAME"].set_string_value("ztunnel");
  n.mutable_locality()->set_zone("z");
  n.set_user_agent_name("ambit");
  n.set_user_agent_version("0.1");
  n.add_extensions()->set_name("e");
  n.add_client_features("f");
  (*n.mutable_dynamic_parameters())["k"];
  CHECK(fields(n) == std::set<int>{1, 2, 3, 4, 6, 7, 9, 10, 12});
  n.mutable_user_agent_build_version()->mutable_version()->set_major_number(1);
  CHECK(fields(n).count(8) == 1);

  // ads.pb.cc holds only the file descriptor; reference it so the static library links it in.
  const void* volatile keep = &descriptor_table_envoy_2fservice_2fdiscovery_2fv3_2fads_2eproto;
  (void)keep;
  CHECK(std::string(AggregatedDiscoveryService::service_full_name()) ==
        "envoy.service.discovery.v3.AggregatedDiscoveryService");
  auto* pool = google::protobuf::DescriptorPool::generated_pool();
  auto* m = pool->FindMethodByName(
      "envoy.service.discovery.v3.AggregatedDiscoveryService.DeltaAggregatedResources");
  REQUIRE(m != nullptr);
  CHECK(m->client_streaming());
  CHECK(m->server_streaming());
  // Type URLs are built from these full names.
  CHECK(workload::Address::descriptor()->full_name() == "istio.workload.Address");
  CHECK(security::Authorization::descriptor()->full_name() == "istio.security.Authorization");
}
