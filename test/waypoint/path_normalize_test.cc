// Tests for waypoint/l7/path_normalize: Istio's four modes, table-driven, and the path CVEs a
// waypoint must not let through (each test named after its CVE).
#include "waypoint/l7/path_normalize.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using ambit::waypoint::l7::normalize_path;
using ambit::waypoint::l7::NormalizedPath;
using ambit::waypoint::l7::PathNormalization;
using ambit::waypoint::l7::remove_dot_segments;
using Mode = PathNormalization;

struct Case {
  const char* in;
  const char* none;
  const char* base;
  const char* merge;
  const char* decode_merge;
};

// Expected matched path per mode; nullptr = refused (400).
const std::vector<Case> kCases = {
    {"/", "/", "/", "/", "/"},
    {"/a/b", "/a/b", "/a/b", "/a/b", "/a/b"},
    {"/a/./b", "/a/./b", "/a/b", "/a/b", "/a/b"},
    {"/a/../b", "/a/../b", "/b", "/b", "/b"},
    {"/a/b/..", "/a/b/..", "/a/", "/a/", "/a/"},
    {"/..", "/..", "/", "/", "/"},
    {"/../../x", "/../../x", "/x", "/x", "/x"},
    {"/a//b", "/a//b", "/a//b", "/a/b", "/a/b"},
    {"//admin", "//admin", "//admin", "/admin", "/admin"},
    {"/a//../b", "/a//../b", "/a/b", "/a/b", "/a/b"},
    {"/%61dmin", "/%61dmin", "/admin", "/admin", "/admin"},
    {"/%7Euser/%2d%2E%5f", "/%7Euser/%2d%2E%5f", "/~user/-._", "/~user/-._", "/~user/-._"},
    {"/%2e%2e/admin", "/%2e%2e/admin", "/admin", "/admin", "/admin"},
    {"/a%2fb", "/a%2fb", "/a%2Fb", "/a%2Fb", "/a/b"},
    {"/admin%2F", "/admin%2F", "/admin%2F", "/admin%2F", "/admin/"},
    {"/a%2F..%2Fadmin", "/a%2F..%2Fadmin", "/a%2F..%2Fadmin", "/a%2F..%2Fadmin", "/admin"},
    {"/a%5cb", "/a%5cb", "/a%5Cb", "/a%5Cb", "/a/b"},
    {"/a\\..\\admin", "/a\\..\\admin", "/admin", "/admin", "/admin"},
    {"/%20x", "/%20x", "/%20x", "/%20x", "/%20x"},
    {"/%252F", "/%252F", "/%252F", "/%252F", "/%252F"},
    {"/admin?x=1", "/admin", "/admin", "/admin", "/admin"},
    {"/admin#frag", "/admin", "/admin", "/admin", "/admin"},
    {"/admin#x?y", "/admin", "/admin", "/admin", "/admin"},
    {"/%00", "/%00", nullptr, nullptr, nullptr},
    {"/a%", "/a%", nullptr, nullptr, nullptr},
    {"/a%4", "/a%4", nullptr, nullptr, nullptr},
    {"/a%zz", "/a%zz", nullptr, nullptr, nullptr},
    {"admin", nullptr, nullptr, nullptr, nullptr},
    {"", nullptr, nullptr, nullptr, nullptr},
    {"*", nullptr, nullptr, nullptr, nullptr},
};

std::string run(const char* in, Mode mode) {
  auto r = normalize_path(in, mode);
  return r.ok() ? r->path : "<error>";
}

}  // namespace

TEST_CASE("normalize_path: the table of modes") {
  for (const Case& c : kCases) {
    CAPTURE(c.in);
    const char* expected[] = {c.none, c.base, c.merge, c.decode_merge};
    const Mode modes[] = {Mode::kNone, Mode::kBase, Mode::kMergeSlashes,
                          Mode::kDecodeAndMergeSlashes};
    for (int i = 0; i < 4; ++i) {
      CAPTURE(ambit::waypoint::l7::to_string(modes[i]));
      CHECK(run(c.in, modes[i]) == (expected[i] ? expected[i] : "<error>"));
    }
  }
}

TEST_CASE("normalize_path: errors name what was wrong and where") {
  auto expect = [](std::string_view in, const char* needle) {
    auto r = normalize_path(in, Mode::kBase);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_MESSAGE(std::string(r.status().message()).find(needle) != std::string::npos,
                  r.status().message());
  };
  expect("/a%zz", "invalid percent-encoding at offset 2");
  expect("/x/%00", "encoded NUL (%00) at offset 3");
  expect(std::string_view("/a\0b", 4), "control byte 0x00 at offset 2");
  expect("/a b", "control byte 0x20 at offset 2");
  expect("/\xc3\xa9", "non-ASCII byte 0xc3 at offset 1");
  expect("admin", "does not start with '/'");
}

TEST_CASE("normalize_path: the query is kept for forwarding, the fragment dropped") {
  struct F {
    const char* in;
    Mode mode;
    const char* forward;
  };
  for (const F& f : std::vector<F>{{"/a/../b?x=%2F&y", Mode::kBase, "/b?x=%2F&y"},
                                   {"/a?", Mode::kBase, "/a?"},
                                   {"/a?q#frag", Mode::kMergeSlashes, "/a?q"},
                                   {"/a#frag?notquery", Mode::kBase, "/a"},
                                   {"//a/./b?z", Mode::kNone, "//a/./b?z"},
                                   {"/%61?%61", Mode::kBase, "/a?%61"}}) {
    CAPTURE(f.in);
    auto r = normalize_path(f.in, f.mode);
    REQUIRE(r.ok());
    CHECK(r->forward() == f.forward);
  }
}

TEST_CASE("normalize_path: normalizing the forwarded form again changes nothing") {
  const Mode modes[] = {Mode::kNone, Mode::kBase, Mode::kMergeSlashes,
                        Mode::kDecodeAndMergeSlashes};
  for (const Case& c : kCases) {
    for (Mode m : modes) {
      auto once = normalize_path(c.in, m);
      if (!once.ok()) continue;
      auto twice = normalize_path(once->forward(), m);
      CAPTURE(c.in);
      REQUIRE(twice.ok());
      CHECK(twice->forward() == once->forward());
    }
  }
}

TEST_CASE("remove_dot_segments: RFC 3986 section 5.2.4 examples") {
  CHECK(remove_dot_segments("/a/b/c/./../../g") == "/a/g");
  CHECK(remove_dot_segments("/mid/content=5/../6") == "/mid/6");
  CHECK(remove_dot_segments("/./") == "/");
  CHECK(remove_dot_segments("/a/..") == "/");
  CHECK(remove_dot_segments("/a/.../b") == "/a/.../b");
  CHECK(remove_dot_segments("/a/..b/.c") == "/a/..b/.c");
}

// The CVEs: a path an authorization rule for /admin must see as /admin (see authz_test.cc for
// the same inputs through a DENY policy).
TEST_CASE("CVE-2019-9901: /info/../admin is /admin in every normalizing mode") {
  for (Mode m : {Mode::kBase, Mode::kMergeSlashes, Mode::kDecodeAndMergeSlashes}) {
    CHECK(run("/info/../admin", m) == "/admin");
    CHECK(run("/admin/../admin", m) == "/admin");
  }
}

TEST_CASE("CVE-2021-31920: //admin merged, %2F and %5C decoded under DECODE_AND_MERGE_SLASHES") {
  CHECK(run("//admin", Mode::kMergeSlashes) == "/admin");
  CHECK(run("/admin%2F", Mode::kDecodeAndMergeSlashes) == "/admin/");
  CHECK(run("/a%2F..%2Fadmin", Mode::kDecodeAndMergeSlashes) == "/admin");
  CHECK(run("/a%5C..%5Cadmin", Mode::kDecodeAndMergeSlashes) == "/admin");
  // BASE leaves an escaped slash escaped, and forwards exactly that: the backend sees the path
  // the policy saw, never a decoded one.
  auto base = normalize_path("/a%2F..%2Fadmin", Mode::kBase);
  REQUIRE(base.ok());
  CHECK(base->forward() == "/a%2F..%2Fadmin");
}

TEST_CASE("CVE-2020-8595: a query does not change the matched path") {
  for (Mode m : {Mode::kNone, Mode::kBase, Mode::kMergeSlashes, Mode::kDecodeAndMergeSlashes}) {
    CHECK(run("/admin?x", m) == "/admin");
  }
}

TEST_CASE("CVE-2021-39156: a fragment is cut before matching and never forwarded") {
  for (Mode m : {Mode::kNone, Mode::kBase, Mode::kMergeSlashes, Mode::kDecodeAndMergeSlashes}) {
    auto r = normalize_path("/admin#x", m);
    REQUIRE(r.ok());
    CHECK(r->path == "/admin");
    CHECK(r->forward() == "/admin");
  }
}

TEST_CASE("CVE-2019-9900: NUL in a path, raw or encoded, is refused") {
  CHECK(run("/admin%00.txt", Mode::kBase) == "<error>");
  CHECK_FALSE(normalize_path(std::string_view("/admin\0x", 8), Mode::kNone).ok());
}
