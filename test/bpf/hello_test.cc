// Proves the bpf_object() path end to end: the skeleton built by clang + bpftool loads into the
// running kernel and its program runs (BPF_PROG_TEST_RUN) with the map counting what it saw.
#include <doctest/doctest.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "ambit/abi.h"
#include "hello.skel.h"
#include "test/support/root.h"

namespace {
uint64_t sum_percpu(int map_fd, uint32_t key) {
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> vals(static_cast<size_t>(ncpu));
  if (bpf_map_lookup_elem(map_fd, &key, vals.data()) != 0) return ~0ull;
  uint64_t s = 0;
  for (auto v : vals) s += v;
  return s;
}
}  // namespace

TEST_CASE("bpf: the hello skeleton loads and counts packets by protocol") {
  AMBIT_REQUIRE_ROOT();
  hello* skel = hello::open_and_load();
  REQUIRE_MESSAGE(skel != nullptr, "hello::open_and_load failed: ", std::strerror(errno));
  struct Destroy {
    hello* s;
    ~Destroy() { hello::destroy(s); }
  } guard{skel};

  unsigned char pkt[64] = {};
  pkt[12] = ETH_P_IP >> 8;
  pkt[13] = ETH_P_IP & 0xff;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = 3);
  int prog = bpf_program__fd(skel->progs.hello_count);
  REQUIRE(bpf_prog_test_run_opts(prog, &opts) == 0);
  CHECK(opts.retval == 0);  // TC_ACT_OK

  pkt[12] = ETH_P_IPV6 >> 8;
  pkt[13] = ETH_P_IPV6 & 0xff;
  LIBBPF_OPTS(bpf_test_run_opts, opts6, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = 1);
  REQUIRE(bpf_prog_test_run_opts(prog, &opts6) == 0);

  int map = bpf_map__fd(skel->maps.hello_stats);
  CHECK(sum_percpu(map, AMBIT_HELLO_PACKETS) == 4);
  CHECK(sum_percpu(map, AMBIT_HELLO_IPV4) == 3);
  CHECK(sum_percpu(map, AMBIT_HELLO_IPV6) == 1);
  CHECK(sum_percpu(map, AMBIT_HELLO_OTHER) == 0);
}
