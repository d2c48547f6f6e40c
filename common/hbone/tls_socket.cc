#include "common/hbone/tls_socket.h"

#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/base/strings.h"
#include "common/hbone/deadline.h"

namespace ambit::hbone {

namespace asio = boost::asio;

absl::StatusOr<std::unique_ptr<TlsSocket>> TlsSocket::create(asio::ip::tcp::socket sock, const tls::TlsContext& ctx,
                                                            tls::PeerVerification* v) {
  auto ssl = ctx.new_connection(v);
  if (!ssl.ok()) return ssl.status();
  boost::system::error_code ec;
  sock.non_blocking(true, ec);
  if (ec) return absl::InternalError(str_cat("set non-blocking: ", ec.message()));
  if (SSL_set_fd(ssl->get(), sock.native_handle()) != 1) return crypto::openssl_error("SSL_set_fd");
  return std::unique_ptr<TlsSocket>(new TlsSocket(std::move(sock), std::move(*ssl)));
}

asio::awaitable<absl::Status> TlsSocket::handshake() {
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) co_return absl::OkStatus();
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ) {
      auto [ec] = co_await sock_.async_wait(asio::socket_base::wait_read, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return absl::UnavailableError(str_cat("TLS handshake: ", ec.message()));
    } else if (e == SSL_ERROR_WANT_WRITE) {
      auto [ec] = co_await sock_.async_wait(asio::socket_base::wait_write, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return absl::UnavailableError(str_cat("TLS handshake: ", ec.message()));
    } else {
      co_return tls::TlsContext::handshake_error(ssl_.get(), r, "TLS handshake");
    }
  }
}

asio::awaitable<absl::Status> TlsSocket::handshake(std::chrono::milliseconds deadline) {
  Deadline d(sock_.get_executor(), deadline, [this] {
    boost::system::error_code ignored;
    sock_.cancel(ignored);  // the handshake's pending wait completes with operation_aborted
  });
  absl::Status st = co_await handshake();
  bool expired = co_await d.disarm();  // not in the if: GCC 12 mishandles co_await in conditions
  if (expired) {
    co_return absl::DeadlineExceededError(str_cat("TLS handshake not done within ", deadline.count(), " ms"));
  }
  co_return st;
}

asio::awaitable<absl::StatusOr<size_t>> TlsSocket::read_some(std::span<char> buf) {
  for (;;) {
    size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(ssl_.get(), buf.data(), buf.size(), &n) == 1) co_return n;
    int e = SSL_get_error(ssl_.get(), 0);
    switch (e) {
      case SSL_ERROR_WANT_READ: {
        auto [ec] = co_await sock_.async_wait(asio::socket_base::wait_read, asio::as_tuple(asio::use_awaitable));
        if (ec) co_return absl::UnavailableError(str_cat("TLS read: ", ec.message()));
        break;
      }
      case SSL_ERROR_WANT_WRITE: {
        auto [ec] = co_await sock_.async_wait(asio::socket_base::wait_write, asio::as_tuple(asio::use_awaitable));
        if (ec) co_return absl::UnavailableError(str_cat("TLS read: ", ec.message()));
        break;
      }
      case SSL_ERROR_ZERO_RETURN:
        co_return size_t{0};
      case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) co_return size_t{0};  // TCP EOF without close_notify
        co_return crypto::openssl_error("TLS read", absl::StatusCode::kUnavailable);
      default:
        co_return crypto::openssl_error("TLS read", absl::StatusCode::kUnavailable);
    }
  }
}

asio::awaitable<absl::Status> TlsSocket::write_all(std::span<const char> buf) {
  size_t off = 0;
  while (off < buf.size()) {
    size_t n = 0;
    ERR_clear_error();
    if (SSL_write_ex(ssl_.get(), buf.data() + off, buf.size() - off, &n) == 1) {
      off += n;
      continue;
    }
    int e = SSL_get_error(ssl_.get(), 0);
    if (e == SSL_ERROR_WANT_WRITE) {
      auto [ec] = co_await sock_.async_wait(asio::socket_base::wait_write, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return absl::UnavailableError(str_cat("TLS write: ", ec.message()));
    } else if (e == SSL_ERROR_WANT_READ) {
      auto [ec] = co_await sock_.async_wait(asio::socket_base::wait_read, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return absl::UnavailableError(str_cat("TLS write: ", ec.message()));
    } else {
      co_return crypto::openssl_error("TLS write", absl::StatusCode::kUnavailable);
    }
  }
  co_return absl::OkStatus();
}

void TlsSocket::shutdown() {
  if (ssl_ && sock_.is_open()) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // one attempt: non-blocking, best effort
    ERR_clear_error();
    boost::system::error_code ec;
    sock_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  }
}

void TlsSocket::close() {
  boost::system::error_code ec;
  sock_.close(ec);
}

std::string TlsSocket::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &p, &len);
  return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

}  // namespace ambit::hbone
