#include "ztunnel/identity/ca_client.h"

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "istio/v1/auth/ca.grpc.pb.h"

namespace ambit::ztunnel {

std::string read_token(const std::string& source) {
  if (source.empty()) return "";
  if (source.find('/') != std::string::npos) {
    if (auto t = crypto::read_file(source); t.ok()) return std::string(trim(*t));
  }
  return source;
}

std::shared_ptr<grpc::Channel> make_istiod_channel(const std::string& address, const std::string& root_pem,
                                                   const std::string& san) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = root_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(san);
  args.SetMaxReceiveMessageSize(200 * 1024 * 1024);  // ztunnel accepts xDS responses up to 200 MiB
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(o), args);
}

GrpcCaClient::GrpcCaClient(std::shared_ptr<grpc::Channel> channel, std::string token_source)
    : channel_(std::move(channel)), token_source_(std::move(token_source)) {}

void GrpcCaClient::create_certificate(const std::string& csr_pem, const SpiffeId& identity, std::chrono::seconds ttl,
                                      Done done) {
  struct Call {
    grpc::ClientContext ctx;
    istio::v1::auth::IstioCertificateRequest req;
    istio::v1::auth::IstioCertificateResponse resp;
    std::unique_ptr<istio::v1::auth::IstioCertificateService::Stub> stub;
    Done done;
  };
  auto call = std::make_shared<Call>();
  call->stub = istio::v1::auth::IstioCertificateService::NewStub(channel_);
  call->req.set_csr(csr_pem);
  call->req.set_validity_duration(ttl.count());
  (*call->req.mutable_metadata()->mutable_fields())["ImpersonatedIdentity"].set_string_value(identity.to_string());
  std::string token = read_token(token_source_);
  if (!token.empty()) call->ctx.AddMetadata("authorization", str_cat("Bearer ", token));
  call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  call->done = std::move(done);
  call->stub->async()->CreateCertificate(&call->ctx, &call->req, &call->resp, [call](grpc::Status st) {
    if (!st.ok()) {
      call->done(absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                              str_cat("CreateCertificate: ", st.error_message())));
      return;
    }
    std::vector<std::string> chain(call->resp.cert_chain().begin(), call->resp.cert_chain().end());
    call->done(std::move(chain));
  });
}

void LocalCaClient::create_certificate(const std::string& csr_pem, const SpiffeId& identity, std::chrono::seconds ttl,
                                       Done done) {
  auto req = crypto::CertificateRequest::parse(csr_pem);
  if (!req.ok()) {
    done(req.status());
    return;
  }
  done(ca_->sign(*req, identity, ttl));
}

}  // namespace ambit::ztunnel
