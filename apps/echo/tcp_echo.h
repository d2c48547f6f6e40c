// The TCP echo port: every byte comes back until the peer half-closes; then the server closes
// too. L4-only traffic (no HTTP) through ztunnel is tested against it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>

#include "absl/status/status.h"

namespace ambit::echo {

absl::Status start_tcp_echo(boost::asio::io_context& io, uint16_t port);

}  // namespace ambit::echo
