<#
.SYNOPSIS
    The path of the W&B server stand-in's assembly (tests/WandbServer), building it first when there is none.
.DESCRIPTION
    The stand-in is a test part: a W&B GraphQL server on 127.0.0.1 (docs/build-and-test.md, "The W&B server
    stand-in"). It is loaded from the build of tests/WandbServer.Tests, whose output folder holds its libraries
    (GraphQL.NET). A script then runs it in its own pwsh:
        Add-Type -Path (& ./tools/Find-WandbStandIn.ps1)
        $server = [WandbLaunch.Tests.WandbServer.WandbStandIn]::new(); $key = $server.AddUser('alice')
        Connect-WandbLaunch -BaseUrl $server.Url.ToString().TrimEnd('/') -ApiKey $key
        ...; $server.Dispose()
#>
param([string] $Configuration = 'Release')
$ErrorActionPreference = 'Stop'
$root = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
$bin = Join-Path $root "out/build/bin/WandbServer.Tests/$($Configuration.ToLowerInvariant())"
$dll = Join-Path $bin 'WandbServer.dll'
if (-not (Test-Path $dll)) {
    & dotnet build (Join-Path $root 'tests/WandbServer.Tests/WandbServer.Tests.csproj') -c $Configuration --nologo -v quiet | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "Building the W&B server stand-in (tests/WandbServer.Tests) failed with exit code $LASTEXITCODE." }
}
if (-not (Test-Path $dll)) { throw "The W&B server stand-in was not built at $dll." }
$dll
