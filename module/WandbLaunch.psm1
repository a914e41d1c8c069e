# Loads WandbLaunch in its own AssemblyLoadContext: only WandbLaunch.Loader.dll enters PowerShell's context; the
# cmdlets, the engine and their third-party libraries load privately from bin/lib (see src/WandbLaunch.Loader).
$importModule = Get-Command -Name Import-Module -Module Microsoft.PowerShell.Core

$isReload = $true
if (-not ('WandbLaunch.Loader.LoadContext' -as [type])) {
    $isReload = $false
    Add-Type -Path ([System.IO.Path]::Combine($PSScriptRoot, 'bin', 'WandbLaunch.Loader.dll'))
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
