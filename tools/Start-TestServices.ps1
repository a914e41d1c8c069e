<#
.SYNOPSIS
    Installs and starts what the tests need: a Docker engine, an htpasswd-protected registry on loopback, and a
    base image built FROM scratch (no image can be pulled here). Safe to run again: it reuses what already runs.
.DESCRIPTION
    Exports, for the test processes started after it:
      WBL_TEST_DOCKER=1 when an engine answers (DOCKER_HOST is honoured),
      WBL_TEST_REGISTRY (host:port), WBL_TEST_REGISTRY_USER, WBL_TEST_REGISTRY_PASSWORD,
      WBL_TEST_BASE_IMAGE (a busybox image built from scratch).
    Without root or apt-get nothing is installed; tests that need Docker then skip with a reason, except under
    CI=true, where this script fails instead.
    Each process it starts is recorded in <StateDirectory>/<name>.pid.json; tools/Stop-TestServices.ps1 stops those
    (and only those) when the tests end. An engine or registry that was already running is used and left running.
#>
[CmdletBinding()]
param(
    [string] $StateDirectory = (Join-Path (Split-Path $PSScriptRoot -Parent) 'out/services')
)
$ErrorActionPreference = 'Stop'
$ci = $env:CI -eq 'true'
New-Item -ItemType Directory -Path $StateDirectory -Force | Out-Null
. (Join-Path $PSScriptRoot 'services/TestServiceRecords.ps1')

function Test-Command([string] $Name) { [bool](Get-Command $Name -ErrorAction SilentlyContinue) }

function Test-DockerEngine {
    if (-not (Test-Command docker)) { return $false }
    & docker version --format '{{.Server.Version}}' *> $null
    $LASTEXITCODE -eq 0
}

function Wait-Until([scriptblock] $Condition, [int] $Seconds, [string] $What) {
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        if (& $Condition) { return }
        Start-Sleep -Milliseconds 250
    }
    Stop-OrSkip "$What did not come up within $Seconds s."
}

function Start-Service([string] $Name, [string] $Program, [string[]] $Arguments, [string] $Log) {
    # The service writes to its log file itself (a pipe back to this process would break when it exits) and runs
    # in its own session, so neither this script ending nor a closing terminal takes it down. setsid execs the
    # program in place (its caller, a background child of sh, leads no process group), so $! is the service's id.
    $path = (Get-Command $Program).Source
    $quoted = (@($path) + $Arguments | ForEach-Object { "'" + ($_ -replace "'", "'\''") + "'" }) -join ' '
    $processId = [int](& sh -c "setsid $quoted > '$Log' 2>&1 < /dev/null & echo `$!")
    Save-TestServiceRecord $StateDirectory $Name $processId $path
}

function Stop-OrSkip([string] $Reason) {
    if ($ci) { throw "CI=true needs a Docker engine and a registry: $Reason" }
    Write-Warning "Docker tests will be skipped: $Reason"
    $env:WBL_TEST_DOCKER = ''
    exit 0
}

$isRoot = $IsLinux -and ((& id -u) -eq '0')
$needed = @('dockerd', 'docker', 'docker-registry', 'busybox', 'htpasswd') | Where-Object { -not (Test-Command $_) }
if ($needed -and $isRoot -and (Test-Command apt-get)) {
    Write-Host "Installing: docker.io docker-registry busybox-static apache2-utils (missing: $($needed -join ', '))"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    & apt-get update -qq | Out-Null
    & apt-get install -y -qq docker.io docker-registry busybox-static apache2-utils | Out-Null
    if ($LASTEXITCODE -ne 0) { Stop-OrSkip 'apt-get install failed' }
}

if (-not (Test-DockerEngine)) {
    if (-not ($isRoot -and (Test-Command dockerd))) { Stop-OrSkip 'no Docker engine answers and dockerd cannot be started here (needs root)' }
    Write-Host 'Starting dockerd --iptables=false --bridge=none'
    $log = Join-Path $StateDirectory 'dockerd.log'
    Start-Service dockerd dockerd @('--iptables=false', '--bridge=none') $log
    Wait-Until { Test-DockerEngine } 60 'The Docker engine'
}
$env:WBL_TEST_DOCKER = '1'

# A registry with real htpasswd credentials on loopback.
$env:WBL_TEST_REGISTRY_USER = 'wbltest'
$passwordFile = Join-Path $StateDirectory 'registry.password'
if (-not (Test-Path $passwordFile)) { [guid]::NewGuid().ToString('n') | Set-Content $passwordFile -NoNewline }
$env:WBL_TEST_REGISTRY_PASSWORD = (Get-Content $passwordFile -Raw).Trim()

function Test-Registry([int] $Port) {
    try {
        $client = [System.Net.Sockets.TcpClient]::new()
        $client.Connect('127.0.0.1', $Port)
        $client.Dispose()
        $true
    }
    catch { $false }
}

# The registry's users: the tests' own, and AWS, the user of every ECR login, so that a test can push to this
# registry with the login the ECR stand-in hands out (its password is set to the same one).
$registryUsers = @($env:WBL_TEST_REGISTRY_USER, 'AWS')

function Test-RegistryCredentials([int] $Port) {
    # A registry left running by another checkout may have other credentials: then it is not ours to use.
    $client = [System.Net.Http.HttpClient]::new()
    try {
        foreach ($user in $registryUsers) {
            $pair = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes("$($user):$($env:WBL_TEST_REGISTRY_PASSWORD)"))
            $request = [System.Net.Http.HttpRequestMessage]::new('GET', "http://127.0.0.1:$Port/v2/")
            $request.Headers.Authorization = [System.Net.Http.Headers.AuthenticationHeaderValue]::new('Basic', $pair)
            if ($client.Send($request).StatusCode -ne 'OK') { return $false }
        }
        $true
    }
    catch { $false }
    finally { $client.Dispose() }
}

# This checkout's registry if one runs on 5000-5009, else the first free port there: a registry another checkout left
# running (with its own password) is left alone.
$ports = 5000..5009
$registryPort = $ports | Where-Object { (Test-Registry $_) -and (Test-RegistryCredentials $_) } | Select-Object -First 1
if (-not $registryPort) { $registryPort = $ports | Where-Object { -not (Test-Registry $_) } | Select-Object -First 1 }
if (-not $registryPort) { Stop-OrSkip 'ports 5000-5009 on 127.0.0.1 are all taken by registries with other credentials' }
$env:WBL_TEST_REGISTRY = "127.0.0.1:$registryPort"

if (-not (Test-Registry $registryPort)) {
    if (-not (Test-Command docker-registry)) { Stop-OrSkip 'docker-registry is not installed' }
    $htpasswd = Join-Path $StateDirectory 'htpasswd'
    $registryUsers | ForEach-Object { & htpasswd -Bbn $_ $env:WBL_TEST_REGISTRY_PASSWORD } | Where-Object { $_ } | Set-Content $htpasswd
    $storage = Join-Path $StateDirectory 'registry-data'
    New-Item -ItemType Directory -Path $storage -Force | Out-Null
    $config = Join-Path $StateDirectory 'registry.yml'
    @"
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$registryPort
auth:
  htpasswd:
    realm: wandblaunch-test
    path: $htpasswd
"@ | Set-Content $config
    Write-Host "Starting docker-registry on 127.0.0.1:$registryPort"
    $log = Join-Path $StateDirectory 'registry.log'
    Start-Service registry docker-registry @('serve', $config) $log
    Wait-Until { Test-Registry $registryPort } 30 'The registry'
}

# The base image: busybox from Debian's busybox-static, FROM scratch.
$env:WBL_TEST_BASE_IMAGE = 'wandblaunch-test-base:1'
& docker image inspect $env:WBL_TEST_BASE_IMAGE *> $null
if ($LASTEXITCODE -ne 0) {
    $context = Join-Path $StateDirectory 'base-image'
    New-Item -ItemType Directory -Path $context -Force | Out-Null
    Copy-Item (Get-Command busybox).Source (Join-Path $context 'busybox') -Force
    @'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin
'@ | Set-Content (Join-Path $context 'Dockerfile')
    $env:DOCKER_BUILDKIT = '0'
    & docker build --network none -q -t $env:WBL_TEST_BASE_IMAGE $context | Out-Null
    if ($LASTEXITCODE -ne 0) { Stop-OrSkip "building the test base image $env:WBL_TEST_BASE_IMAGE failed" }
}
Write-Host "Test services: Docker engine up, registry $env:WBL_TEST_REGISTRY (user $env:WBL_TEST_REGISTRY_USER), base image $env:WBL_TEST_BASE_IMAGE"
