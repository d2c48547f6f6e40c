// The HTTP port: HTTP/1.1 with keep-alive, and h2c on the same port (prior knowledge or
// `Upgrade: h2c`), since a mesh must carry both to the same application port.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace ambit::echo {

absl::Status start_http_server(boost::asio::io_context& io, uint16_t port, std::string server_name);

}  // namespace ambit::echo
