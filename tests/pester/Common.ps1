# Dot-sourced by every *.Tests.ps1 in BeforeAll: paths and helpers shared by the suite.
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:ModulePath = Join-Path $script:RepoRoot 'WandbLaunch.psd1'

function New-TestStore {
    <# Points this session at a new, empty local store in a temporary folder and returns its path. #>
    $dir = Join-Path ([IO.Path]::GetTempPath()) ("wbl-test-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    New-Item -ItemType Directory -Path $dir | Out-Null
    $env:WANDB_LAUNCH_DB = Join-Path $dir 'launch.db'
    $env:WANDB_LAUNCH_DB
}

function New-TestDirectory {
    $dir = Join-Path ([IO.Path]::GetTempPath()) ("wbl-test-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    (New-Item -ItemType Directory -Path $dir).FullName
}

function Get-PwshCommand {
    <# The pwsh that runs this suite, as an executable path (the dotnet tool ships an apphost in $PSHOME). #>
    $apphost = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    if (Test-Path $apphost) { return $apphost }
    throw "No pwsh executable in $PSHOME"
}

function Invoke-FreshPwsh {
    <#
    Runs a script in a new pwsh process (the same pwsh as this one) and returns its exit code and output lines.
    The script finds the module at $env:WBL_MODULE.
    #>
    param([Parameter(Mandatory)] [string] $Script)
    $pwsh = Get-PwshCommand
    $env:WBL_MODULE = $script:ModulePath
    $file = Join-Path ([IO.Path]::GetTempPath()) ("wbl-script-" + [guid]::NewGuid().ToString('n') + '.ps1')
    Set-Content -Path $file -Value $Script
    try {
        $output = & $pwsh -NoProfile -NonInteractive -File $file 2>&1
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($output | ForEach-Object { "$_" }) }
    }
    finally {
        Remove-Item $file -ErrorAction SilentlyContinue
    }
}
