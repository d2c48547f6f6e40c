// Size and count limits of the HTTP/1.1 codec, per message. Defaults follow Envoy's edge
// guidance (max_request_headers_kb 60, max_headers_count 100) and are configurable per listener.
#pragma once

#include <cstddef>

namespace ambit::waypoint::http {

struct Http1Limits {
  size_t max_start_line = 16 * 1024;      // request line (→ 414) or status line
  size_t max_header_bytes = 60 * 1024;    // all field lines of the head, or of the trailers (→ 431)
  size_t max_header_count = 100;          // fields in the head, or in the trailers (→ 431)
  // Chunk extensions carry nothing we use; a body made of one-byte chunks with long extensions
  // costs parse work and (in parsers that keep them) memory per byte of payload. Counted per
  // message, over all chunk lines (Node.js CVE-2024-22019 capped them the same way).
  size_t max_chunk_extension_bytes = 4 * 1024;
  size_t max_chunk_line = 4 * 1024;       // one chunk-size line, extensions included
  size_t max_leading_empty_lines = 8;     // CRLFs tolerated before a request line (RFC 9112 §2.2)
};

}  // namespace ambit::waypoint::http
