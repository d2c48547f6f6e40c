#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/base/log.h"
#include "common/base/scope_guard.h"
#include "common/base/status.h"
#include "common/base/unique_fd.h"

using namespace ambit;

namespace {
absl::StatusOr<int> half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}
absl::StatusOr<int> quarter(int x) {
  AMBIT_ASSIGN_OR_RETURN(int h, half(x));
  AMBIT_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}
absl::Status check_even(int x) {
  AMBIT_RETURN_IF_ERROR(half(x).status());
  return absl::OkStatus();
}
bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
}  // namespace

TEST_CASE("errno_error maps errno to a code and names the operation") {
  absl::Status s = errno_error(ENOENT, "open ", "/nope");
  CHECK(absl::IsNotFound(s));
  CHECK(s.message().find("open /nope") != std::string::npos);
  CHECK(s.message().find("No such file") != std::string::npos);
  CHECK(absl::IsPermissionDenied(errno_error(EPERM, "x")));
  CHECK(absl::IsUnavailable(errno_error(ECONNREFUSED, "x")));
}

TEST_CASE("annotate keeps the code and prefixes context") {
  absl::Status s = annotate(absl::NotFoundError("gone"), "loading pod");
  CHECK(absl::IsNotFound(s));
  CHECK(s.message() == "loading pod: gone");
  CHECK(annotate(absl::OkStatus(), "x").ok());
}

TEST_CASE("return-if-error macros propagate the first error") {
  CHECK(*quarter(8) == 2);
  CHECK(absl::IsInvalidArgument(quarter(6).status()));  // 6/2 = 3 is odd
  CHECK(check_even(4).ok());
  CHECK(!check_even(3).ok());
}

TEST_CASE("UniqueFd closes once, moves, releases") {
  int raw = ::open("/dev/null", O_RDONLY);
  REQUIRE(raw >= 0);
  {
    UniqueFd a(raw);
    CHECK(fd_open(raw));
    UniqueFd b(std::move(a));
    CHECK(!a);
    CHECK(b.get() == raw);
  }
  CHECK_FALSE(fd_open(raw));
  UniqueFd c(::open("/dev/null", O_RDONLY));
  int r = c.release();
  CHECK_FALSE(c);
  CHECK(fd_open(r));
  ::close(r);
}

TEST_CASE("ScopeGuard runs unless dismissed") {
  int runs = 0;
  { ScopeGuard g([&] { ++runs; }); }
  CHECK(runs == 1);
  {
    ScopeGuard g([&] { ++runs; });
    g.dismiss();
  }
  CHECK(runs == 1);
}

TEST_CASE("log levels change at run time, per scope and globally") {
  auto& xds = log::scope("xds-test");
  auto& ca = log::scope("ca-test");
  REQUIRE(log::init("info").ok());
  CHECK(xds.level() == spdlog::level::info);
  REQUIRE(log::set_levels("xds-test:debug").ok());
  CHECK(xds.level() == spdlog::level::debug);
  CHECK(ca.level() == spdlog::level::info);
  REQUIRE(log::set_levels("warn").ok());
  CHECK(xds.level() == spdlog::level::warn);
  CHECK(ca.level() == spdlog::level::warn);
  CHECK(log::levels().at("ca-test") == "warning");
  log::reset_levels();
  CHECK(xds.level() == spdlog::level::info);
}

TEST_CASE("log level spec errors name the bad part and change nothing") {
  REQUIRE(log::init("info").ok());
  auto& s = log::scope("bad-spec-test");
  absl::Status st = log::set_levels("bad-spec-test:debug,xds:loud");
  CHECK(absl::IsInvalidArgument(st));
  CHECK(st.message().find("loud") != std::string::npos);
  CHECK(s.level() == spdlog::level::info);
  CHECK(!log::set_levels(":debug").ok());
  CHECK(!log::set_levels("verbose").ok());
}
