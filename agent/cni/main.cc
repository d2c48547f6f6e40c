// ambit-cni: chained CNI plugin (spec 1.0). Passes the pod's netns and identity to the node agent.
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::puts(
        "ambit-cni: chained CNI plugin (CNI spec 1.0)\n"
        "Invoked by the container runtime with CNI_COMMAND=ADD|DEL|CHECK|VERSION and the\n"
        "network configuration on stdin; not meant to be run by hand.");
    return 0;
  }
  const char* cmd = std::getenv("CNI_COMMAND");
  if (cmd && std::strcmp(cmd, "VERSION") == 0) {
    std::puts(R"({"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]})");
    return 0;
  }
  std::puts(R"j({"cniVersion":"1.0.0","code":4,"msg":"ambit-cni: not built yet (see issue 5)"})j");
  return 1;
}
