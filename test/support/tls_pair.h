// Drives a client and a server SSL against each other in memory (a BIO pair), so TLS behaviour
// can be tested and benchmarked without sockets or threads.
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "absl/status/status.h"

namespace ambit::test {

struct HandshakeResult {
  absl::Status client;  // the client's view (OK, or why it failed)
  absl::Status server;  // the server's view
};

// Connects client and server through a BIO pair and steps both until each finishes or fails.
HandshakeResult handshake_in_memory(SSL* client, SSL* server);

// After a successful handshake: sends `msg` client→server and reads it back; true if it arrived.
bool exchange(SSL* client, SSL* server, const std::string& msg);

}  // namespace ambit::test
