// The load client: N requests, C in flight, each bounded by a timeout; one line per failure and a
// machine-parsable summary, so a demo or a test can tell whether the mesh let traffic through.
#pragma once

#include <cstddef>
#include <string>

namespace ambit::echo {

struct ClientOptions {
  std::string target;  // http://host:port/path, or host:port with tcp
  int count = 1;
  int concurrency = 1;
  int timeout_ms = 2000;
  bool tcp = false;             // TCP echo: send `size` bytes, expect them back, per connection
  bool http2 = false;           // h2c with prior knowledge
  bool new_connection = false;  // HTTP: no keep-alive, a fresh connection per request
  bool show_body = false;       // print the first response body
  size_t size = 1024;
};

// Prints failures and `summary: requests=N ok=N failed=N p50_ms=.. p99_ms=.. max_ms=..`
// (latencies of the successful requests). Returns the exit code: 0 iff every request succeeded,
// 2 for a malformed target.
int run_client(const ClientOptions& o);

}  // namespace ambit::echo
