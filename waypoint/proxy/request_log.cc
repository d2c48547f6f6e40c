#include "waypoint/proxy/request_log.h"

#include "common/base/log.h"

namespace ambit::waypoint {

void record_request(const ProxyInputs* in, const RequestLog& l) {
  (void)in;
  auto ms = std::chrono::duration_cast<std::chrono::microseconds>(l.duration).count() / 1000.0;
  log::scope("access").info(
      "{} {} {} {} src.addr={} src.identity={} dst.service={} dst.workload={} route={} policy={} flags={} "
      "bytes_in={} bytes_out={} duration={:.3f}ms",
      l.method, l.authority, l.path, l.status, l.peer.ip.to_string(),
      l.peer.identity ? l.peer.identity->to_string() : "-", l.service.hostname.empty() ? "-" : l.service.to_string(),
      l.endpoint && l.endpoint->workload ? l.endpoint->workload->name() : "-", l.route.empty() ? "-" : l.route,
      l.policy.empty() ? "-" : l.policy, l.response_flags.empty() ? "-" : l.response_flags, l.request_bytes,
      l.response_bytes, ms);
}

}  // namespace ambit::waypoint
