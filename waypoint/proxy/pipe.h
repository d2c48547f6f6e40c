// A connected pair of stream sockets between an HBONE stream and the waypoint's HTTP code.
//
// The HTTP/2 connection (common/hbone/h2/connection.h) splices each CONNECT stream to a socket —
// that is all ztunnel needs. The waypoint terminates HTTP inside the stream, so it attaches the
// stream to one end of a socketpair and speaks HTTP on the other. Cost: one extra copy through
// the kernel per byte in each direction (docs/benchmarks.md measures the hop); the way to remove
// it is a byte-stream interface on h2::Connection besides attach(), which the data path would
// then use without changing anything else here.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "absl/status/statusor.h"

namespace ambit::waypoint {

struct Pipe {
  boost::asio::ip::tcp::socket stream_end;                // for h2::Connection::attach
  boost::asio::local::stream_protocol::socket proxy_end;  // the waypoint reads and writes this
};

absl::StatusOr<Pipe> make_pipe(boost::asio::io_context& io);

}  // namespace ambit::waypoint
