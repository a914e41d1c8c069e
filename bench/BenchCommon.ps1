# Dot-sourced by bench/Measure-*.ps1: statistics, machine description and Markdown output shared by the benchmarks.
# (Not named Measure-*, so the Bench task of build.ps1 does not run it on its own.)

function Get-Percentile {
    <# The p-th percentile (0..100) of a set of numbers, by linear interpolation between the closest ranks. #>
    param([Parameter(Mandatory)] [double[]] $Values, [Parameter(Mandatory)] [double] $Percentile)
    $sorted = [double[]]($Values | Sort-Object)
    if ($sorted.Count -eq 0) { return [double]::NaN }
    $rank = ($Percentile / 100) * ($sorted.Count - 1)
    $low = [math]::Floor($rank)
    $high = [math]::Ceiling($rank)
    $sorted[$low] + ($sorted[$high] - $sorted[$low]) * ($rank - $low)
}

function Save-BenchReport {
    <# Writes a report to -OutFile (UTF-8 without BOM), creating its folder; does nothing without a path. #>
    param([Parameter(Mandatory)] [AllowEmptyString()] [string] $Text, [string] $OutFile)
    if (-not $OutFile) { return }
    $dir = Split-Path -Parent ([IO.Path]::GetFullPath($OutFile, (Get-Location).Path))
    if ($dir) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
    Set-Content -Path $OutFile -Value $Text -Encoding utf8NoBOM
}

function Get-Median {
    param([Parameter(Mandatory)] [double[]] $Values)
    Get-Percentile -Values $Values -Percentile 50
}

function Get-MachineInfo {
    <# What the README's results tables record about the machine a run happened on. #>
    $memory = 'unknown'
    if (Test-Path /proc/meminfo) {
        $line = Get-Content /proc/meminfo | Where-Object { $_ -like 'MemTotal:*' } | Select-Object -First 1
        if ($line -match '(\d+)\s*kB') { $memory = '{0:N1} GiB' -f ([double]$Matches[1] / 1MB) }
    }
    $os = [System.Runtime.InteropServices.RuntimeInformation]::OSDescription
    if (Test-Path /etc/os-release) {
        $pretty = Get-Content /etc/os-release | Where-Object { $_ -like 'PRETTY_NAME=*' } | Select-Object -First 1
        if ($pretty) { $os = "$($pretty.Substring(12).Trim('"')), kernel $([Environment]::OSVersion.Version)" }
    }
    [ordered]@{
        Date    = [DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm') + ' UTC'
        nproc   = [Environment]::ProcessorCount
        Memory  = $memory
        OS      = $os
        pwsh    = $PSVersionTable.PSVersion.ToString()
        '.NET'  = [System.Runtime.InteropServices.RuntimeInformation]::FrameworkDescription
        'Load average at start (1/5/15 min)' = Get-LoadAverage
    }
}

function Get-LoadAverage {
    <# The 1, 5 and 15 minute load averages (run-queue length; above nproc means processes waited for a core). #>
    if (Test-Path /proc/loadavg) { (Get-Content /proc/loadavg -Raw).Split(' ')[0..2] -join ' ' } else { 'n/a' }
}

function ConvertTo-MarkdownTable {
    <# Rows (objects or ordered dictionaries with the same keys) as a GitHub Markdown table; numeric columns right-aligned. #>
    param([Parameter(Mandatory)] [object[]] $Rows, [string[]] $RightAligned = @())
    $first = $Rows[0]
    $columns = if ($first -is [System.Collections.IDictionary]) { @($first.Keys) } else { @($first.PSObject.Properties.Name) }
    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add('| ' + ($columns -join ' | ') + ' |')
    $lines.Add('|' + (($columns | ForEach-Object { if ($_ -in $RightAligned) { '---:' } else { '---' } }) -join '|') + '|')
    foreach ($row in $Rows) {
        $lines.Add('| ' + (($columns | ForEach-Object { "$($row.$_)" }) -join ' | ') + ' |')
    }
    $lines -join [Environment]::NewLine
}

function Format-MachineInfo {
    param([Parameter(Mandatory)] [System.Collections.IDictionary] $Info)
    ($Info.GetEnumerator() | ForEach-Object { "- $($_.Key): $($_.Value)" }) -join [Environment]::NewLine
}

function Get-PwshExecutable {
    <# The pwsh apphost next to this pwsh (the dotnet tool package ships one in $PSHOME): no `dotnet` tool resolution. #>
    $apphost = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    if (-not (Test-Path $apphost)) { throw "No pwsh apphost in $PSHOME" }
    $apphost
}

function Get-BenchModulePath {
    $path = Join-Path $PSScriptRoot '../WandbLaunch.psd1' | Resolve-Path | Select-Object -ExpandProperty Path
    Assert-ModuleBuilt $path
    $path
}

function Assert-ModuleBuilt([string] $ManifestPath) {
    <# Throws unless the checkout of $ManifestPath has a build: out/module/WandbLaunch/bin, or module/bin in
       checkouts from before build output moved under out/ (so older checkouts can still be compared). #>
    $checkout = Split-Path $ManifestPath
    $built = foreach ($bin in 'out/module/WandbLaunch/bin', 'module/bin') { Test-Path (Join-Path $checkout "$bin/lib/WandbLaunch.Engine.dll") }
    if ($built -notcontains $true) { throw "The module is not built: run 'dotnet pwsh ./build.ps1 -Task Build' in $checkout first." }
}

function Get-BenchProgramPath([string] $Project) {
    <# The dll `dotnet build -c Release` of bench/<Project> writes (every build output is under out/build). #>
    Join-Path $PSScriptRoot "../out/build/bin/$Project/release/$Project.dll"
}

function New-BenchDirectory {
    $dir = Join-Path ([IO.Path]::GetTempPath()) ('wbl-bench-' + [guid]::NewGuid().ToString('n').Substring(0, 12))
    (New-Item -ItemType Directory -Path $dir).FullName
}

function Get-ChildCpuMilliseconds {
    <#
    User plus system CPU time of every child process this process has waited for so far (getrusage(RUSAGE_CHILDREN)),
    in milliseconds; $null where that is not available (Windows). The difference across one child's run is that
    child's CPU time: less disturbed by other processes competing for the cores than its wall time.
    #>
    if ($IsWindows) { return $null }
    if (-not ('WandbLaunchBench.RUsage' -as [type])) {
        Add-Type -Namespace WandbLaunchBench -Name RUsage -MemberDefinition @'
[System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
private static extern int getrusage(int who, long[] usage);

/// <summary>ru_utime + ru_stime of RUSAGE_CHILDREN (-1) in milliseconds (struct rusage starts with two timevals of two longs).</summary>
public static double ChildrenCpuMilliseconds()
{
    var usage = new long[18];
    if (getrusage(-1, usage) != 0) throw new System.ComponentModel.Win32Exception();
    return (usage[0] + usage[2]) * 1000.0 + (usage[1] + usage[3]) / 1000.0;
}
'@
    }
    [WandbLaunchBench.RUsage]::ChildrenCpuMilliseconds()
}
