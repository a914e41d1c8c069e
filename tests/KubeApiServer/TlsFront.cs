using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace WandbLaunch.Tests.KubeApi;

/// <summary>
/// HTTPS in front of an HTTP server on loopback, as a cluster's API server is reached from a pod: TLS on 127.0.0.1
/// with a self-signed certificate for the address (its PEM is the pod's ca.crt), every connection relayed to the
/// server behind it byte for byte, watches and log streams included.
/// </summary>
public sealed class TlsFront : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly X509Certificate2 _certificate;
    private readonly Uri _backend;
    private readonly CancellationTokenSource _stop = new();

    /// <param name="backend">The HTTP server to relay to.</param>
    /// <param name="subject">The certificate's common name.</param>
    public TlsFront(Uri backend, string subject = "kubernetes")
    {
        _backend = backend;
        _certificate = Create(subject);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>The certificate in PEM form: what a client must trust (a pod's ca.crt).</summary>
    public string CertificatePem => _certificate.ExportCertificatePem();

    /// <summary>A self-signed certificate for 127.0.0.1 that nothing trusts: for a wrong ca.crt.</summary>
    public static string UntrustedPem() => Create("someone-else").ExportCertificatePem();

    private static X509Certificate2 Create(string subject)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.KeyCertSign, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // A key usable by SslStream on every platform: exported and imported again.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await using var tls = new SslStream(client.GetStream());
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token).ConfigureAwait(false);
                using var upstream = new TcpClient();
                await upstream.ConnectAsync(_backend.Host, _backend.Port, _stop.Token).ConfigureAwait(false);
                await using var plain = upstream.GetStream();
                using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var up = tls.CopyToAsync(plain, done.Token);
                var down = plain.CopyToAsync(tls, done.Token);
                await Task.WhenAny(up, down).ConfigureAwait(false);
                await done.CancelAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
            {
                // A client that gave up, refused the certificate, or the front stopping.
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _certificate.Dispose();
    }
}
