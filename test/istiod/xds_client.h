// Test clients for a running istiod, shared by the istiod tests: a delta ADS stream with a reader
// thread (responses are waited for with deadlines), and GETs on istiod's HTTP port (/metrics,
// /debug/*). Header-only; every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/base/strings.h"
#include "common/base/unique_fd.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"

namespace ambit::test::xds_client {

using namespace std::chrono_literals;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;

constexpr auto kDeadline = 20s;
inline const std::string kNodeId = "ztunnel~10.0.0.1~ztunnel-abc.istio-system~istio-system.svc.cluster.local";

// --- HTTP (istiod's debug/metrics port) ---

struct HttpResponse {
  int status = 0;
  std::string body;
};

inline HttpResponse http_get(int port, const std::string& path) {
  HttpResponse out;
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  std::string req = str_cat("GET ", path, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  REQUIRE(::write(fd.get(), req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string raw;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0) raw.append(buf, static_cast<size_t>(n));
  REQUIRE_MESSAGE(raw.rfind("HTTP/1.1 ", 0) == 0, raw);
  out.status = std::stoi(raw.substr(9, 3));
  auto body = raw.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  out.body = raw.substr(body + 4);
  return out;
}

inline google::protobuf::Value json(const std::string& text) {
  google::protobuf::Value v;
  auto s = google::protobuf::util::JsonStringToMessage(text, &v);
  REQUIRE_MESSAGE(s.ok(), s.ToString(), ": ", text);
  return v;
}

// Value of one series in Prometheus text ("name{labels}" exactly as exposed), 0 if absent.
inline double metric(int http_port, const std::string& series) {
  HttpResponse r = http_get(http_port, "/metrics");
  REQUIRE(r.status == 200);
  for (std::string_view line : split(r.body, '\n')) {
    if (line.size() > series.size() && line.substr(0, series.size()) == series && line[series.size()] == ' ') {
      return std::stod(std::string(line.substr(series.size() + 1)));
    }
  }
  return 0;
}

// --- a delta ADS client ---

// One DeltaAggregatedResources stream. A reader thread queues responses so the test can wait on
// them with deadlines; writes come from the test thread (one reader + one writer is allowed).
class AdsStream {
 public:
  AdsStream(AggregatedDiscoveryService::Stub* stub, const std::string& bearer) {
    ctx_.set_deadline(std::chrono::system_clock::now() + 120s);
    if (!bearer.empty()) ctx_.AddMetadata("authorization", "Bearer " + bearer);
    stream_ = stub->DeltaAggregatedResources(&ctx_);
    reader_ = std::thread([this] {
      DeltaDiscoveryResponse r;
      while (stream_->Read(&r)) {
        std::lock_guard lock(mu_);
        queue_.push_back(r);
        cv_.notify_all();
      }
      std::lock_guard lock(mu_);
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~AdsStream() {
    ctx_.TryCancel();
    reader_.join();
    if (!finished_) (void)stream_->Finish();
  }

  void send(const DeltaDiscoveryRequest& r) { (void)stream_->Write(r); }

  // First request of a type (carries the node).
  void subscribe(const std::string& type, const std::vector<std::string>& names = {},
                 const std::map<std::string, std::string>& initial = {}, const std::string& node_id = kNodeId,
                 const std::string& node_name = "node1") {
    DeltaDiscoveryRequest r;
    r.mutable_node()->set_id(node_id);
    (*r.mutable_node()->mutable_metadata()->mutable_fields())["NODE_NAME"].set_string_value(node_name);
    r.set_type_url(type);
    for (const auto& n : names) r.add_resource_names_subscribe(n);
    for (const auto& [k, v] : initial) (*r.mutable_initial_resource_versions())[k] = v;
    send(r);
  }
  void ack(const DeltaDiscoveryResponse& resp) {
    DeltaDiscoveryRequest r;
    r.set_type_url(resp.type_url());
    r.set_response_nonce(resp.nonce());
    send(r);
  }
  void nack(const DeltaDiscoveryResponse& resp, const std::string& why) {
    DeltaDiscoveryRequest r;
    r.set_type_url(resp.type_url());
    r.set_response_nonce(resp.nonce());
    r.mutable_error_detail()->set_code(3);
    r.mutable_error_detail()->set_message(why);
    send(r);
  }

  // The next response, or nullopt after `timeout` (or if the stream ended).
  std::optional<DeltaDiscoveryResponse> next(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || ended_; });
    if (queue_.empty()) return std::nullopt;
    DeltaDiscoveryResponse r = std::move(queue_.front());
    queue_.pop_front();
    return r;
  }
  // The next response, which must arrive before the deadline.
  DeltaDiscoveryResponse expect(const char* what) {
    auto r = next(kDeadline);
    REQUIRE_MESSAGE(r.has_value(), "no response (", what, ") before the deadline");
    return *r;
  }
  // The stream's final status; the server must end it before the deadline.
  grpc::Status finish() {
    {
      std::unique_lock lock(mu_);
      REQUIRE_MESSAGE(cv_.wait_for(lock, kDeadline, [this] { return ended_; }), "stream did not end");
      CHECK_MESSAGE(queue_.empty(), "unexpected response before the stream ended");
    }
    finished_ = true;
    return stream_->Finish();
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<DeltaDiscoveryRequest, DeltaDiscoveryResponse>> stream_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<DeltaDiscoveryResponse> queue_;
  bool ended_ = false;
  bool finished_ = false;
};

}  // namespace ambit::test::xds_client
