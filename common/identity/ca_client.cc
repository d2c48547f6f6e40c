#include "common/identity/ca_client.h"

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/xds/delta_client.h"
#include "istio/v1/auth/ca.grpc.pb.h"

namespace ambit::identity {

// The calls in flight: their contexts (to cancel) and how many Call objects still exist.
struct GrpcCaClient::Inflight {
  std::mutex mu;
  std::condition_variable gone;
  std::set<grpc::ClientContext*> cancellable;  // calls whose callback has not started
  size_t alive = 0;                            // Call objects not yet destroyed
};

GrpcCaClient::GrpcCaClient(std::shared_ptr<grpc::Channel> channel, std::string token_source, Mode mode)
    : channel_(std::move(channel)),
      token_source_(std::move(token_source)),
      mode_(mode),
      inflight_(std::make_shared<Inflight>()) {}

GrpcCaClient::~GrpcCaClient() {
  std::unique_lock lock(inflight_->mu);
  for (auto* ctx : inflight_->cancellable) ctx->TryCancel();
  inflight_->gone.wait(lock, [this] { return inflight_->alive == 0; });
}

void GrpcCaClient::create_certificate(const std::string& csr_pem, const SpiffeId& identity, std::chrono::seconds ttl,
                                      Done done) {
  // Declared first, destroyed last: the count drops only once the context and the stub (each
  // holding a channel reference) are gone.
  struct Alive {
    std::shared_ptr<Inflight> in;
    ~Alive() {
      std::lock_guard lock(in->mu);
      --in->alive;
      in->gone.notify_all();
    }
  };
  struct Call {
    explicit Call(std::shared_ptr<Inflight> in) : alive{std::move(in)} {}
    Alive alive;
    grpc::ClientContext ctx;
    istio::v1::auth::IstioCertificateRequest req;
    istio::v1::auth::IstioCertificateResponse resp;
    std::unique_ptr<istio::v1::auth::IstioCertificateService::Stub> stub;
    Done done;
  };
  {
    std::lock_guard lock(inflight_->mu);
    ++inflight_->alive;
  }
  auto call = std::make_shared<Call>(inflight_);
  call->stub = istio::v1::auth::IstioCertificateService::NewStub(channel_);
  call->req.set_csr(csr_pem);
  call->req.set_validity_duration(ttl.count());
  if (mode_ == Mode::kImpersonate) {
    (*call->req.mutable_metadata()->mutable_fields())["ImpersonatedIdentity"].set_string_value(identity.to_string());
  }
  std::string token = xds::read_token(token_source_);
  if (!token.empty()) call->ctx.AddMetadata("authorization", str_cat("Bearer ", token));
  call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  call->done = std::move(done);
  {
    std::lock_guard lock(inflight_->mu);
    inflight_->cancellable.insert(&call->ctx);
  }
  call->stub->async()->CreateCertificate(&call->ctx, &call->req, &call->resp, [call](grpc::Status st) {
    {
      std::lock_guard lock(call->alive.in->mu);
      call->alive.in->cancellable.erase(&call->ctx);
    }
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

}  // namespace ambit::identity
