#include "waypoint/proxy/request_log.h"

#include "waypoint/telemetry.h"

namespace ambit::waypoint {

void record_request(const ProxyInputs* in, const RequestLog& l) {
  if (in->telemetry == nullptr) return;
  RequestRecord r;
  r.src_ip = l.peer.ip;
  r.src_identity = l.peer.identity;
  r.authority = l.authority;
  r.service = l.service;
  if (l.endpoint) {
    r.dst_workload = l.endpoint->workload;
    r.dst_identity = l.endpoint->identity;
    r.upstream_addr = l.endpoint->target.to_string();
  }
  r.method = l.method;
  r.path = l.path;
  r.host = l.authority;
  r.response_code = l.status;
  r.response_flags = l.response_flags.empty() ? "-" : l.response_flags;
  r.route = l.route;
  r.policy = l.policy;
  r.request_bytes = l.request_bytes;
  r.response_bytes = l.response_bytes;
  r.duration = l.duration;
  in->telemetry->request(r);
}

}  // namespace ambit::waypoint
