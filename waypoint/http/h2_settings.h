// Limits of the waypoint's HTTP/2 server codec. Defaults follow Envoy's edge guidance
// (reference: Envoy docs "Configuring Envoy as an edge proxy"): 100 concurrent streams, 64 KiB
// stream window, 1 MiB connection window, ~60 KiB of request headers; and the flood limits
// Envoy's http2_flood_integration_test exercises, enforced here per connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace ambit::waypoint::http {

struct H2Settings {
  uint32_t max_concurrent_streams = 100;
  uint32_t stream_window = 64 * 1024;
  uint32_t connection_window = 1024 * 1024;
  uint32_t max_frame_size = 16 * 1024;
  uint32_t max_header_list = 60 * 1024;  // sum of name+value+32 per field (RFC 9113 §6.5.2) → 431
  size_t max_header_count = 100;         // → 431
  // CONTINUATION frames after one HEADERS (CVE-2024-27316 and its kin); nghttp2 enforces it.
  size_t max_continuations = 8;
  // SETTINGS and PING ACKs queued but not yet written (CVE-2019-9512, -9515): a peer that sends
  // them faster than it reads the ACKs is cut off. nghttp2 counts the queue.
  size_t max_outbound_control = 1000;
  size_t max_settings_entries = 32;  // in one SETTINGS frame
  // Stream resets, the peer's own (rapid reset) and the ones it provokes (MadeYouReset): a
  // token bucket per connection.
  double reset_burst = 200;
  double reset_rate = 100;  // per second
  // Frames that make us work but carry nothing (CVE-2019-9518, -9516, -9513; Envoy's
  // max_consecutive_inbound_frames_with_empty_payload and inbound PRIORITY/WINDOW_UPDATE limits).
  uint32_t max_empty_data_run = 100;        // empty DATA without END_STREAM, in a row
  uint32_t max_priority_per_stream = 100;   // PRIORITY frames per opened stream (+1)
  uint32_t max_window_update_per_data = 10; // WINDOW_UPDATEs per DATA frame we sent (+100)
  // Response bytes the proxy may hand over for one stream before they are framed: what a client
  // that grants no window makes us hold, per stream.
  size_t max_response_buffer = 64 * 1024;
  // The clock the rate limits read (tests replace it).
  std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
};

}  // namespace ambit::waypoint::http
