// Pure tests for `ambitctl ztunnel-config` (cli/ztunnel_config.h): the tables istioctl shows, built
// from a /config_dump in the shape ztunnel/admin/config_dump.cc writes.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/ztunnel_config.h"

using namespace ambit::cli;
using nlohmann::json;

namespace {

// A dump with two namespaces, one waypoint, mixed endpoint health, a leaf+root chain, a
// three-certificate chain, a certificate still being fetched, and one connection whose pod is
// unknown to this ztunnel.
json sample_dump() {
  return json::parse(R"({
  "version": {"version": "0.1.0", "gitRevision": "ambit", "buildProfile": "Debug"},
  "config": {"nodeName": "node1", "clusterId": "Kubernetes", "trustDomain": "cluster.local"},
  "workloads": [
    {"uid": "Kubernetes//Pod/demo/web-0", "name": "web-0", "namespace": "demo",
     "workloadIps": ["10.244.1.5"], "protocol": "HBONE", "serviceAccount": "web",
     "workloadName": "web", "workloadType": "POD", "canonicalName": "web", "canonicalRevision": "latest",
     "clusterId": "Kubernetes", "trustDomain": "cluster.local", "node": "node1", "status": "Healthy",
     "identity": "spiffe://cluster.local/ns/demo/sa/web",
     "waypoint": {"destination": "demo/waypoint.demo.svc.cluster.local", "hboneMtlsPort": 15008},
     "services": ["demo/web.demo.svc.cluster.local"], "authorizationPolicies": ["demo/allow-web"]},
    {"uid": "Kubernetes//Pod/other/client", "name": "client", "namespace": "other",
     "workloadIps": ["10.244.2.7", "fd00::7"], "protocol": "TCP", "serviceAccount": "default",
     "node": "node2", "status": "Healthy", "identity": "spiffe://cluster.local/ns/other/sa/default"}
  ],
  "services": [
    {"name": "web", "namespace": "demo", "hostname": "web.demo.svc.cluster.local",
     "vips": ["/10.96.0.10"], "ports": {"80": 8080},
     "endpoints": {
       "Kubernetes//Pod/demo/web-0": {"workloadUid": "Kubernetes//Pod/demo/web-0", "status": "Healthy"},
       "Kubernetes//Pod/demo/web-1": {"workloadUid": "Kubernetes//Pod/demo/web-1", "status": "Unhealthy"},
       "Kubernetes//Pod/demo/web-2": {"workloadUid": "Kubernetes//Pod/demo/web-2", "status": "Healthy"}},
     "waypoint": {"destination": "demo/waypoint.demo.svc.cluster.local", "hboneMtlsPort": 15008}},
    {"name": "db", "namespace": "other", "hostname": "db.other.svc.cluster.local",
     "vips": ["net1/10.96.0.11", "net1/fd00:96::b"], "ports": {"5432": 5432}, "endpoints": {}}
  ],
  "policies": [
    {"name": "allow-web", "namespace": "demo", "scope": "Namespace", "action": "Allow"},
    {"name": "deny-all", "namespace": "other", "scope": "Global", "action": "Deny"}
  ],
  "certificates": [
    {"identity": "spiffe://cluster.local/ns/demo/sa/web", "state": "Available",
     "certChain": [
       {"pem": "-----BEGIN CERTIFICATE-----\nleaf\n-----END CERTIFICATE-----\n", "serialNumber": "5a1f",
        "validFrom": "2024-05-01T10:00:00Z", "expirationTime": "2024-05-02T10:00:00Z"},
       {"pem": "-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n", "serialNumber": "c0de",
        "validFrom": "2024-01-01T00:00:00Z", "expirationTime": "2034-01-01T00:00:00Z"}],
     "rootCerts": [{"pem": "-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n"}]},
    {"identity": "spiffe://cluster.local/ns/other/sa/default", "state": "Available",
     "certChain": [
       {"pem": "leaf", "serialNumber": "11", "validFrom": "2024-05-01T11:00:00Z", "expirationTime": "2024-05-02T11:00:00Z"},
       {"pem": "int", "serialNumber": "22", "validFrom": "2024-02-01T00:00:00Z", "expirationTime": "2029-02-01T00:00:00Z"},
       {"pem": "root", "serialNumber": "33", "validFrom": "2024-01-01T00:00:00Z", "expirationTime": "2034-01-01T00:00:00Z"}],
     "rootCerts": []},
    {"identity": "spiffe://cluster.local/ns/demo/sa/pending", "state": "Initializing", "certChain": [], "rootCerts": []}
  ],
  "workloadState": {
    "7c1d9a52-0b1e-4c59-9f10-3a2b1c0d9e8f": {"state": "up",
      "info": {"name": "web-0", "namespace": "demo", "serviceAccount": "web"}},
    "0e6f1b44-9d2a-4f3c-8a77-5b4c3d2e1f00": {"state": "up",
      "info": {"name": "client", "namespace": "other", "serviceAccount": "default"}}
  },
  "connections": [
    {"podUid": "7c1d9a52-0b1e-4c59-9f10-3a2b1c0d9e8f", "direction": "inbound", "local": "10.244.1.5:8080",
     "remote": "10.244.2.7:40112", "target": "10.244.1.5:8080", "protocol": "HBONE"},
    {"podUid": "0e6f1b44-9d2a-4f3c-8a77-5b4c3d2e1f00", "direction": "outbound", "local": "10.244.2.7:40112",
     "remote": "10.244.1.5:15008", "target": "10.96.0.10:80", "protocol": "HBONE"},
    {"podUid": "ffffffff-0000-0000-0000-000000000000", "direction": "outbound", "local": "10.244.1.99:5000",
     "remote": "10.244.2.1:15008", "target": "10.96.0.11:5432", "protocol": "TCP"}
  ]
})");
}

const std::vector<std::string> kWorkloadHeader = {"NAMESPACE", "POD NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL"};
const std::vector<std::string> kServiceHeader = {"NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT", "ENDPOINTS"};
const std::vector<std::string> kPolicyHeader = {"NAMESPACE", "POLICY NAME", "ACTION", "SCOPE"};
const std::vector<std::string> kCertificateHeader = {"CERTIFICATE NAME", "TYPE",      "STATUS",    "VALID CERT",
                                                     "SERIAL NUMBER",    "NOT AFTER", "NOT BEFORE"};
const std::vector<std::string> kConnectionsHeader = {"POD", "DIRECTION", "LOCAL", "REMOTE", "TARGET", "PROTOCOL"};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::string rtrim(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

using Row = std::vector<std::string>;

// Splits an aligned table into rows of cells, checking that the header is exactly `header` (those
// names, in order, separated by spaces only) and cutting every row at the header's column offsets.
std::vector<Row> parse_table(const std::string& text, const std::vector<std::string>& header) {
  auto lines = lines_of(text);
  REQUIRE_MESSAGE(!lines.empty(), "empty table");
  const std::string& h = lines[0];
  std::vector<size_t> offsets;
  size_t pos = 0;
  for (size_t i = 0; i < header.size(); ++i) {
    size_t at = h.find(header[i], pos);
    REQUIRE_MESSAGE(at != std::string::npos, "header \"", h, "\" lacks column ", header[i]);
    if (i == 0) {
      REQUIRE_MESSAGE(at == 0, "header \"", h, "\" does not start with ", header[0]);
    } else {
      REQUIRE_MESSAGE(at > pos, "no space before ", header[i], " in \"", h, "\"");
      REQUIRE_MESSAGE(h.substr(pos, at - pos).find_first_not_of(' ') == std::string::npos,
                      "unexpected text before ", header[i], " in \"", h, "\"");
    }
    offsets.push_back(at);
    pos = at + header[i].size();
  }
  REQUIRE_MESSAGE(rtrim(h).size() == pos, "header \"", h, "\" has extra columns");
  std::vector<Row> rows;
  for (size_t l = 1; l < lines.size(); ++l) {
    const std::string& line = lines[l];
    Row row;
    for (size_t i = 0; i < offsets.size(); ++i) {
      size_t begin = offsets[i];
      size_t end = i + 1 < offsets.size() ? offsets[i + 1] : std::string::npos;
      std::string cell = begin < line.size() ? line.substr(begin, end == std::string::npos ? end : end - begin) : "";
      // A cell never spills into the next column: the byte before the next offset is padding.
      if (end != std::string::npos && end <= line.size()) {
        CHECK_MESSAGE(line[end - 1] == ' ', "column ", header[i], " overflows in \"", line, "\"");
      }
      row.push_back(rtrim(cell));
    }
    rows.push_back(row);
  }
  return rows;
}

std::string table(const json& dump, const std::string& section, const std::string& ns = "") {
  auto r = ztunnel_config_table(dump, section, ZtunnelConfigFilter{.ns = ns});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

std::vector<Row> rows(const std::string& section, const std::vector<std::string>& header, const std::string& ns = "") {
  return parse_table(table(sample_dump(), section, ns), header);
}

}  // namespace

TEST_CASE("ztunnel-config workload: istioctl's columns, addresses joined, waypoint or None") {
  auto r = rows("workload", kWorkloadHeader);
  REQUIRE(r.size() == 2);
  CHECK(r[0] == Row{"demo", "web-0", "10.244.1.5", "node1", "demo/waypoint.demo.svc.cluster.local", "HBONE"});
  CHECK(r[1] == Row{"other", "client", "10.244.2.7,fd00::7", "node2", "None", "TCP"});
}

TEST_CASE("ztunnel-config service: VIPs without the network prefix, healthy/total endpoints") {
  auto r = rows("service", kServiceHeader);
  REQUIRE(r.size() == 2);
  CHECK(r[0] == Row{"demo", "web", "10.96.0.10", "demo/waypoint.demo.svc.cluster.local", "2/3"});
  CHECK(r[1] == Row{"other", "db", "10.96.0.11,fd00:96::b", "None", "0/0"});
}

TEST_CASE("ztunnel-config service: endpoint counts and VIP forms") {
  struct Case {
    std::string name;
    json service;
    std::string vip, endpoints;
  };
  auto ep = [](const char* status) { return json{{"workloadUid", "u"}, {"status", status}}; };
  const std::vector<Case> cases = {
      {"all healthy", {{"vips", {"/10.96.0.1"}}, {"endpoints", {{"a", ep("Healthy")}, {"b", ep("Healthy")}}}}, "10.96.0.1", "2/2"},
      {"none healthy", {{"vips", {"/10.96.0.1"}}, {"endpoints", {{"a", ep("Unhealthy")}}}}, "10.96.0.1", "0/1"},
      {"endpoints absent", {{"vips", {"/10.96.0.1"}}}, "10.96.0.1", "0/0"},
      {"VIP without a network part", {{"vips", {"10.96.0.2"}}, {"endpoints", json::object()}}, "10.96.0.2", "0/0"},
      {"named network", {{"vips", {"cluster-net/10.96.0.3"}}}, "10.96.0.3", "0/0"},
      {"no VIPs (headless)", {{"vips", json::array()}}, "", "0/0"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    json svc = c.service;
    svc["name"] = "s";
    svc["namespace"] = "n";
    auto r = parse_table(table(json{{"services", {svc}}}, "service"), kServiceHeader);
    REQUIRE(r.size() == 1);
    CHECK(r[0][2] == c.vip);
    CHECK(r[0][3] == "None");
    CHECK(r[0][4] == c.endpoints);
  }
}

TEST_CASE("ztunnel-config policy: istioctl's columns") {
  auto r = rows("policy", kPolicyHeader);
  REQUIRE(r.size() == 2);
  CHECK(r[0] == Row{"demo", "allow-web", "Allow", "Namespace"});
  CHECK(r[1] == Row{"other", "deny-all", "Deny", "Global"});
}

TEST_CASE("ztunnel-config certificate: one row per chain entry, Leaf first and Root last") {
  auto r = rows("certificate", kCertificateHeader);
  REQUIRE(r.size() == 6);
  const std::string web = "spiffe://cluster.local/ns/demo/sa/web";
  const std::string client = "spiffe://cluster.local/ns/other/sa/default";
  CHECK(r[0] == Row{web, "Leaf", "Available", "true", "5a1f", "2024-05-02T10:00:00Z", "2024-05-01T10:00:00Z"});
  CHECK(r[1] == Row{web, "Root", "Available", "true", "c0de", "2034-01-01T00:00:00Z", "2024-01-01T00:00:00Z"});
  CHECK(r[2] == Row{client, "Leaf", "Available", "true", "11", "2024-05-02T11:00:00Z", "2024-05-01T11:00:00Z"});
  CHECK(r[3] == Row{client, "Intermediate", "Available", "true", "22", "2029-02-01T00:00:00Z", "2024-02-01T00:00:00Z"});
  CHECK(r[4] == Row{client, "Root", "Available", "true", "33", "2034-01-01T00:00:00Z", "2024-01-01T00:00:00Z"});
  // Not fetched yet: a Leaf row that is not a valid certificate.
  CHECK(r[5] == Row{"spiffe://cluster.local/ns/demo/sa/pending", "Leaf", "Initializing", "false", "", "", ""});
}

TEST_CASE("ztunnel-config certificate: a chain of one is a Leaf, and only Available is valid") {
  struct Case {
    std::string name, state;
    size_t chain;
    std::vector<std::string> types;
    std::string valid;
  };
  const std::vector<Case> cases = {
      {"single certificate", "Available", 1, {"Leaf"}, "true"},
      {"leaf and root", "Available", 2, {"Leaf", "Root"}, "true"},
      {"two intermediates", "Available", 4, {"Leaf", "Intermediate", "Intermediate", "Root"}, "true"},
      {"expired", "Unavailable", 2, {"Leaf", "Root"}, "false"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    json chain = json::array();
    for (size_t i = 0; i < c.chain; ++i) {
      chain.push_back({{"pem", "p"}, {"serialNumber", std::to_string(i)}, {"validFrom", "a"}, {"expirationTime", "b"}});
    }
    json dump = {{"certificates", {{{"identity", "spiffe://td/ns/n/sa/s"}, {"state", c.state}, {"certChain", chain}}}}};
    auto r = parse_table(table(dump, "certificate"), kCertificateHeader);
    REQUIRE(r.size() == c.chain);
    for (size_t i = 0; i < r.size(); ++i) {
      CAPTURE(i);
      CHECK(r[i][1] == c.types[i]);
      CHECK(r[i][2] == c.state);
      CHECK(r[i][3] == c.valid);
      CHECK(r[i][4] == std::to_string(i));
    }
  }
}

TEST_CASE("ztunnel-config connections: pod uids resolve to namespace/name") {
  auto r = rows("connections", kConnectionsHeader);
  REQUIRE(r.size() == 3);
  CHECK(r[0] == Row{"demo/web-0", "inbound", "10.244.1.5:8080", "10.244.2.7:40112", "10.244.1.5:8080", "HBONE"});
  CHECK(r[1] == Row{"other/client", "outbound", "10.244.2.7:40112", "10.244.1.5:15008", "10.96.0.10:80", "HBONE"});
  // A uid this ztunnel does not know stays a uid.
  CHECK(r[2] == Row{"ffffffff-0000-0000-0000-000000000000", "outbound", "10.244.1.99:5000", "10.244.2.1:15008",
                    "10.96.0.11:5432", "TCP"});
}

TEST_CASE("ztunnel-config: the namespace filter keeps only that namespace's rows") {
  struct Case {
    std::string section;
    std::vector<std::string> header;
    std::string ns;
    std::vector<std::string> first_column;  // what is left, in order
    size_t name_column;
    std::vector<std::string> names;
  };
  const std::vector<Case> cases = {
      {"workload", kWorkloadHeader, "demo", {"demo"}, 1, {"web-0"}},
      {"workload", kWorkloadHeader, "other", {"other"}, 1, {"client"}},
      {"workload", kWorkloadHeader, "nowhere", {}, 1, {}},
      {"service", kServiceHeader, "demo", {"demo"}, 1, {"web"}},
      {"service", kServiceHeader, "other", {"other"}, 1, {"db"}},
      {"policy", kPolicyHeader, "other", {"other"}, 1, {"deny-all"}},
      {"policy", kPolicyHeader, "nowhere", {}, 1, {}},
      {"workload", kWorkloadHeader, "", {"demo", "other"}, 1, {"web-0", "client"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.section);
    CAPTURE(c.ns);
    auto r = rows(c.section, c.header, c.ns);
    std::vector<std::string> first, names;
    for (const auto& row : r) {
      first.push_back(row[0]);
      names.push_back(row[c.name_column]);
    }
    CHECK(first == c.first_column);
    CHECK(names == c.names);
  }
}

TEST_CASE("ztunnel-config connections: the namespace filter applies to resolved pods") {
  auto r = rows("connections", kConnectionsHeader, "other");
  std::vector<std::string> pods;
  for (const auto& row : r) pods.push_back(row[0]);
  CHECK(std::find(pods.begin(), pods.end(), "other/client") != pods.end());
  CHECK(std::find(pods.begin(), pods.end(), "demo/web-0") == pods.end());
}

TEST_CASE("ztunnel-config: plural section names are the same views") {
  const json dump = sample_dump();
  for (const auto& [singular, plural] : std::vector<std::pair<std::string, std::string>>{
           {"workload", "workloads"}, {"service", "services"}, {"policy", "policies"}, {"certificate", "certificates"}}) {
    CAPTURE(plural);
    CHECK(table(dump, plural) == table(dump, singular));
    CHECK(table(dump, plural, "demo") == table(dump, singular, "demo"));
  }
}

TEST_CASE("ztunnel-config all: every section, titled, with the same filter") {
  const json dump = sample_dump();
  for (const std::string ns : {"", "demo"}) {
    CAPTURE(ns);
    const std::string all = table(dump, "all", ns);
    for (const auto& [title, section] : std::vector<std::pair<std::string, std::string>>{{"WORKLOADS", "workload"},
                                                                                          {"SERVICES", "service"},
                                                                                          {"POLICIES", "policy"},
                                                                                          {"CERTIFICATES", "certificate"},
                                                                                          {"CONNECTIONS", "connections"}}) {
      CAPTURE(section);
      CHECK(all.find(title + "\n" + table(dump, section, ns)) != std::string::npos);
    }
  }
  // Sections appear in a stable order.
  const std::string all = table(dump, "all");
  CHECK(all.find("WORKLOADS") < all.find("SERVICES"));
  CHECK(all.find("SERVICES") < all.find("POLICIES"));
  CHECK(all.find("POLICIES") < all.find("CERTIFICATES"));
  CHECK(all.find("CERTIFICATES") < all.find("CONNECTIONS"));
}

TEST_CASE("ztunnel-config: an empty dump gives header-only tables") {
  const json empty = json::object();
  struct Case {
    std::string section;
    std::vector<std::string> header;
  };
  for (const auto& c : std::vector<Case>{{"workload", kWorkloadHeader},
                                         {"service", kServiceHeader},
                                         {"policy", kPolicyHeader},
                                         {"certificate", kCertificateHeader},
                                         {"connections", kConnectionsHeader}}) {
    CAPTURE(c.section);
    CHECK(parse_table(table(empty, c.section), c.header).empty());
  }
}

TEST_CASE("ztunnel-config: an unknown section is InvalidArgument naming the valid ones") {
  const json dump = sample_dump();
  for (const std::string section : {"pods", "", "Workload", "cert"}) {
    CAPTURE(section);
    auto t = ztunnel_config_table(dump, section, {});
    REQUIRE_FALSE(t.ok());
    CHECK(t.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string msg(t.status().message());
    CHECK(msg.find("\"" + section + "\"") != std::string::npos);
    for (const char* valid : {"workload", "service", "policy", "certificate", "connections", "all"}) {
      CAPTURE(valid);
      CHECK(msg.find(valid) != std::string::npos);
    }
    auto j = ztunnel_config_json(dump, section, {});
    REQUIRE_FALSE(j.ok());
    CHECK(j.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(j.status().message()) == msg);
  }
}

TEST_CASE("ztunnel_config_json: the section's entries, filtered by namespace") {
  const json dump = sample_dump();
  struct Case {
    std::string section, ns;
    std::vector<std::string> names;
  };
  const std::vector<Case> cases = {
      {"workload", "", {"web-0", "client"}},  {"workload", "demo", {"web-0"}}, {"workloads", "other", {"client"}},
      {"service", "", {"web", "db"}},         {"service", "other", {"db"}},    {"policy", "demo", {"allow-web"}},
      {"policies", "nowhere", {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.section);
    CAPTURE(c.ns);
    auto r = ztunnel_config_json(dump, c.section, ZtunnelConfigFilter{.ns = c.ns});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    REQUIRE(r->is_array());
    std::vector<std::string> names;
    for (const auto& e : *r) {
      names.push_back(e.at("name").get<std::string>());
      if (!c.ns.empty()) CHECK(e.at("namespace") == c.ns);
    }
    CHECK(names == c.names);
  }
  // Entries are passed through whole, not reduced to the table's columns.
  auto w = ztunnel_config_json(dump, "workload", ZtunnelConfigFilter{.ns = "demo"});
  REQUIRE(w.ok());
  REQUIRE(w->size() == 1);
  CHECK((*w)[0] == dump["workloads"][0]);
}

TEST_CASE("ztunnel_config_json: certificates, connections and all") {
  const json dump = sample_dump();
  auto certs = ztunnel_config_json(dump, "certificate", {});
  REQUIRE(certs.ok());
  CHECK(*certs == dump["certificates"]);
  auto conns = ztunnel_config_json(dump, "connections", {});
  REQUIRE(conns.ok());
  CHECK(*conns == dump["connections"]);
  auto all = ztunnel_config_json(dump, "all", {});
  REQUIRE(all.ok());
  CHECK(*all == dump);
  // Missing sections are empty arrays, not nulls.
  auto none = ztunnel_config_json(json::object(), "service", {});
  REQUIRE(none.ok());
  CHECK(*none == json::array());
}
