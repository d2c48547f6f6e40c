#include "waypoint/proxy/pipe.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/base/strings.h"

namespace ambit::waypoint {

absl::StatusOr<Pipe> make_pipe(boost::asio::io_context& io) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::ResourceExhaustedError(str_cat("socketpair: ", std::strerror(errno)));
  }
  Pipe p{boost::asio::ip::tcp::socket(io), boost::asio::local::stream_protocol::socket(io)};
  boost::system::error_code ec;
  // The h2 connection only reads, writes, shuts down and sets SO_LINGER on its app socket, all of
  // which a Unix stream socket supports; TCP-only options fail harmlessly (it ignores their error).
  p.stream_end.assign(boost::asio::ip::tcp::v4(), fds[0], ec);
  if (ec) {
    ::close(fds[0]);
    ::close(fds[1]);
    return absl::InternalError(str_cat("socketpair assign: ", ec.message()));
  }
  p.proxy_end.assign(boost::asio::local::stream_protocol(), fds[1], ec);
  if (ec) {
    ::close(fds[1]);
    return absl::InternalError(str_cat("socketpair assign: ", ec.message()));
  }
  return p;
}

}  // namespace ambit::waypoint
