// How the agent captures an enrolled pod's traffic for ztunnel. Two implementations give ztunnel
// the same contract (outbound connects reach 15001 with SO_ORIGINAL_DST answerable, inbound
// plaintext reaches 15006 with the original destination, ztunnel's own 0x539 sockets pass):
//   ebpf      cgroup/connect + getsockopt/getpeername + sockops + tc/sk_assign (agent/bpf)
//   iptables  Istio's in-pod rules (agent/iptables), the fallback for kernels without the
//             features the eBPF mode needs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/bpf/datapath.h"

namespace ambit::agent {

class Capture {
 public:
  virtual ~Capture() = default;
  virtual std::string mode() const = 0;
  virtual absl::Status enroll(const CapturedPod& pod) = 0;
  virtual absl::Status release(const CapturedPod& pod) = 0;
  // Is the pod captured right now (as the kernel/netfilter state says, not our bookkeeping)?
  virtual bool captured(const CapturedPod& pod) const = 0;
  // Drops capture state that no pod in `known` (the pods the agent knows, whose namespaces still
  // exist) accounts for: what a CNI DEL missed while the agent was down leaves behind. Returns
  // one line per removed entry. Modes whose state dies with the namespace have nothing to do.
  virtual std::vector<std::string> remove_stale(const std::vector<CapturedPod>& /*known*/) { return {}; }
};

struct FeatureReport {
  bool ebpf_ok = false;
  std::vector<std::string> missing;  // what the eBPF mode needs and the kernel lacks
};

// Probes program types, helpers and attach types the eBPF mode uses, and tries a real load.
FeatureReport probe_features();

class EbpfCapture : public Capture {
 public:
  explicit EbpfCapture(std::unique_ptr<EbpfDatapath> dp) : dp_(std::move(dp)) {}
  std::string mode() const override { return "ebpf"; }
  // Reply routing first: a pod captured without it would have every inbound connection fail.
  absl::Status enroll(const CapturedPod& pod) override;
  absl::Status release(const CapturedPod& pod) override;
  bool captured(const CapturedPod& pod) const override;
  std::vector<std::string> remove_stale(const std::vector<CapturedPod>& known) override;
  EbpfDatapath& datapath() { return *dp_; }

 private:
  std::unique_ptr<EbpfDatapath> dp_;
};

class IptablesCapture : public Capture {
 public:
  std::string mode() const override { return "iptables"; }
  absl::Status enroll(const CapturedPod& pod) override;
  absl::Status release(const CapturedPod& pod) override;
  bool captured(const CapturedPod& pod) const override;
};

}  // namespace ambit::agent
