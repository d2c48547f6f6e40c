// PLACEHOLDER so the waypoint binary links before the data path lands: the lead's
// waypoint/proxy/inbound.cc (HBONE mTLS termination, HTTP routing, upstream HBONE) replaces
// this file — delete it and list inbound.cc in waypoint/CMakeLists.txt instead. Until then every
// HBONE connection is closed at once: fail closed, never a pass-through.
#include <boost/system/error_code.hpp>

#include "common/base/log.h"
#include "waypoint/proxy/inbound.h"

namespace ambit::waypoint {

boost::asio::awaitable<void> serve_hbone(const ProxyInputs* in, boost::asio::io_context& io,
                                         boost::asio::ip::tcp::socket s) {
  (void)in;
  (void)io;
  log::scope("inbound").debug("HBONE connection closed: the data path is not built into this binary");
  boost::system::error_code ec;
  s.close(ec);
  co_return;
}

}  // namespace ambit::waypoint
