// ztunnel's own in-pod ports, from the ABI header the capture programs use, so ztunnel refuses to
// proxy to exactly the ports the kernel side treats as ztunnel's.
#pragma once

#include <cstdint>

#include "ambit/abi.h"

namespace ambit::ztunnel {

inline constexpr uint16_t kPortOutbound = AMBIT_PORT_OUTBOUND;                  // 15001
inline constexpr uint16_t kPortInboundPlaintext = AMBIT_PORT_INBOUND_PLAINTEXT;  // 15006
inline constexpr uint16_t kPortHbone = AMBIT_PORT_HBONE;                        // 15008

// A destination on one of these is ztunnel itself: proxying to it would loop.
inline constexpr bool is_ztunnel_port(uint16_t port) {
  return port == kPortOutbound || port == kPortInboundPlaintext || port == kPortHbone;
}

}  // namespace ambit::ztunnel
