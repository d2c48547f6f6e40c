// TLS on a non-blocking TCP socket driven by asio readiness: OpenSSL reads and writes the fd
// directly (no memory BIOs, no extra copy), and coroutines wait for readability/writability
// only when OpenSSL asks. One connection lives on one worker; a read loop and a write loop may
// interleave SSL_read and SSL_write on that thread, which OpenSSL permits.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <span>

#include "absl/status/statusor.h"
#include "common/crypto/openssl.h"
#include "common/tls/tls_context.h"

namespace ambit::hbone {

class TlsSocket {
 public:
  // `v` (peer verification state) must outlive the socket; it is attached to the SSL.
  static absl::StatusOr<std::unique_ptr<TlsSocket>> create(boost::asio::ip::tcp::socket sock,
                                                          const tls::TlsContext& ctx, tls::PeerVerification* v);

  boost::asio::awaitable<absl::Status> handshake();
  // The same, abandoned at `deadline` (DeadlineExceeded): a peer that sends half a ClientHello,
  // or answers ours with nothing, holds the socket no longer than that.
  boost::asio::awaitable<absl::Status> handshake(std::chrono::milliseconds deadline);
  // Decrypted bytes into `buf`; 0 means the peer closed (close_notify or TCP EOF).
  boost::asio::awaitable<absl::StatusOr<size_t>> read_some(std::span<char> buf);
  // Writes everything in `buf` (loops over partial writes).
  boost::asio::awaitable<absl::Status> write_all(std::span<const char> buf);
  // Sends close_notify (best effort) and shuts the TCP write side.
  void shutdown();
  void close();

  boost::asio::ip::tcp::socket& socket() { return sock_; }
  SSL* ssl() const { return ssl_.get(); }
  std::string alpn() const;

 private:
  TlsSocket(boost::asio::ip::tcp::socket sock, crypto::SslPtr ssl) : sock_(std::move(sock)), ssl_(std::move(ssl)) {}
  boost::asio::ip::tcp::socket sock_;
  crypto::SslPtr ssl_;
};

}  // namespace ambit::hbone
