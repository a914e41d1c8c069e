# Loads WandbLaunch in its own AssemblyLoadContext: only WandbLaunch.Loader.dll enters PowerShell's context; the
# cmdlets, the engine and their third-party libraries load privately from bin/lib (see src/WandbLaunch.Loader).
# Import cost matters (every new pwsh that uses the module pays it; see bench/Measure-Import.ps1): GetCmdlet and
# Assembly.LoadFrom do what Get-Command and Add-Type -Path would, without auto-loading Microsoft.PowerShell.Utility
# and running command discovery, which together cost more than the rest of the import.
$importModule = $ExecutionContext.InvokeCommand.GetCmdlet('Microsoft.PowerShell.Core\Import-Module')

$isReload = $true
if (-not ('WandbLaunch.Loader.LoadContext' -as [type])) {
    $isReload = $false
    $null = [System.Reflection.Assembly]::LoadFrom([System.IO.Path]::Combine($PSScriptRoot, 'bin', 'WandbLaunch.Loader.dll'))
}

$innerModule = & $importModule -Assembly ([WandbLaunch.Loader.LoadContext]::Initialize()) -PassThru:$isReload

if ($innerModule) {
    # On a re-import (-Force), pwsh hands back its cached nested module without adding its cmdlets to this module's
    # exports (PowerShell/PowerShell#20710); add them explicitly.
    $addExportedCmdlet = [System.Management.Automation.PSModuleInfo].GetMethod(
        'AddExportedCmdlet', [System.Reflection.BindingFlags]'Instance, NonPublic')
    foreach ($cmd in $innerModule.ExportedCmdlets.Values) {
        $addExportedCmdlet.Invoke($ExecutionContext.SessionState.Module, @(, $cmd))
    }
}
