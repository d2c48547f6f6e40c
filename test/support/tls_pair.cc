#include "test/support/tls_pair.h"

#include <openssl/err.h>

#include "common/tls/tls_context.h"

namespace ambit::test {
namespace {

// One step of a handshake: 1 done, 0 wants more I/O, -1 failed.
int step(SSL* ssl, bool* done, absl::Status* st, const char* who) {
  if (*done) return 1;
  int r = SSL_do_handshake(ssl);
  if (r == 1) {
    *done = true;
    return 1;
  }
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  *st = tls::TlsContext::handshake_error(ssl, r, who);
  *done = true;
  return -1;
}

}  // namespace

HandshakeResult handshake_in_memory(SSL* client, SSL* server) {
  BIO* cbio = nullptr;
  BIO* sbio = nullptr;
  BIO_new_bio_pair(&cbio, 1 << 16, &sbio, 1 << 16);
  SSL_set_bio(client, cbio, cbio);
  SSL_set_bio(server, sbio, sbio);
  HandshakeResult res;
  bool cdone = false, sdone = false;
  for (int i = 0; i < 100 && !(cdone && sdone); ++i) {
    int c = step(client, &cdone, &res.client, "client handshake");
    int s = step(server, &sdone, &res.server, "server handshake");
    // In TLS 1.3 the client finishes first; the server may still reject the client's
    // certificate afterwards. Once one side failed, the other side's next read sees the alert.
    if (c < 0 && !sdone) step(server, &sdone, &res.server, "server handshake");
    if (s < 0 && !cdone) step(client, &cdone, &res.client, "client handshake");
  }
  if (res.client.ok()) {
    // A TLS 1.3 client completes before the server has verified its certificate. Push one
    // read on the client so a server-side rejection (alert) surfaces as a client failure too.
    char b;
    int r = SSL_read(client, &b, 1);
    if (r <= 0) {
      int e = SSL_get_error(client, r);
      if (e != SSL_ERROR_WANT_READ) res.client = tls::TlsContext::handshake_error(client, r, "client read");
    }
    ERR_clear_error();
  }
  return res;
}

bool exchange(SSL* client, SSL* server, const std::string& msg) {
  if (SSL_write(client, msg.data(), static_cast<int>(msg.size())) != static_cast<int>(msg.size())) return false;
  std::string got(msg.size(), '\0');
  int n = SSL_read(server, got.data(), static_cast<int>(got.size()));
  return n == static_cast<int>(msg.size()) && got == msg;
}

}  // namespace ambit::test
