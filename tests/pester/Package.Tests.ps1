# The Package task's output: a module folder and a .nupkg that install and import like any PowerShell module.
# Packaging publishes the module already built in out/module/WandbLaunch (build.ps1 -NoBuild), so this costs seconds,
# not a build.
BeforeAll {
    . $PSScriptRoot/Common.ps1

    $script:Manifest = Import-PowerShellDataFile $SourceManifestPath
    $script:Version = $Manifest.ModuleVersion
    $script:PackageDir = Join-Path $RepoRoot 'out/package'
    $script:ModuleDir = $BuiltModuleDirectory
    $script:Feed = Join-Path $PackageDir 'feed'

    # Run the real Package task in its own pwsh, with a private, empty HOME (as on a fresh CI machine) so that the
    # repository it registers while publishing cannot touch the user's PSResourceGet settings.
    $buildHome = New-TestDirectory
    $script:Build = Invoke-FreshPwsh -TimeoutSeconds 300 -Environment @{ HOME = $buildHome; XDG_DATA_HOME = $null; XDG_CONFIG_HOME = $null } -Script @'
& ./build.ps1 -Task Package -NoBuild
'@
    if ($Build.ExitCode -ne 0) { throw "build.ps1 -Task Package failed:`n$($Build.Output -join "`n")" }

    function Invoke-UseModuleScript([string] $Import) {
        # Imports the module as $Import says and uses the store and an agent config; reports where it loaded from.
        @"
`$ErrorActionPreference = 'Stop'
$Import
`$module = Get-Module WandbLaunch
`$dir = Split-Path `$env:WANDB_LAUNCH_DB
`$queue = New-WandbLaunchQueue -Name packaged -Resource local-process -Configuration 'cpus: 1'
New-WandbLaunchAgentConfig -Path (Join-Path `$dir 'launch-config.yaml') -Queue packaged | Out-Null
[pscustomobject]@{
    ModuleBase = `$module.ModuleBase
    Version = "`$(`$module.Version)"
    Commands = @(`$module.ExportedCommands.Keys | Sort-Object)
    Queue = `$queue.ConfigurationJson
    Config = @((Get-WandbLaunchAgentConfig -Path (Join-Path `$dir 'launch-config.yaml')).Queues)
    Locations = @([AppDomain]::CurrentDomain.GetAssemblies() |
        Where-Object { `$_.GetName().Name -like 'WandbLaunch*' -or `$_.GetName().Name -in 'YamlDotNet', 'Microsoft.Data.Sqlite' } |
        ForEach-Object Location)
} | ConvertTo-Json -Compress
"@
    }
}

AfterAll {
    Remove-TestDirectories
}

Describe 'build.ps1 -Task Package' {
    It 'writes nothing into the repository outside out/, even from an empty home' {
        Join-Path $RepoRoot 'NuGet' | Should -Not -Exist
    }

    It 'reports the module folder and the package it made' {
        $Build.Output | Should -Contain "Module folder: $ModuleDir"
        $Build.Output | Should -Contain "Package:       $(Join-Path $Feed "WandbLaunch.$Version.nupkg")"
    }

    It 'makes a module folder with a valid manifest' {
        $tested = Test-ModuleManifest (Join-Path $ModuleDir 'WandbLaunch.psd1')
        $tested.Name | Should -BeExactly 'WandbLaunch'
        "$($tested.Version)" | Should -BeExactly $Version
        foreach ($file in 'WandbLaunch.Format.ps1xml', 'bin/WandbLaunch.dll', 'bin/WandbLaunch.Loader.dll', 'en-US/WandbLaunch.dll-Help.xml',
            'en-US/about_WandbLaunch.help.txt', 'bin/lib/WandbLaunch.Engine.dll', 'bin/lib/YamlDotNet.dll', 'bin/lib/Microsoft.Data.Sqlite.dll') {
            Join-Path $ModuleDir $file | Should -Exist
        }
    }

    It 'makes a .nupkg holding the module and the native SQLite library for this platform' {
        $nupkg = Join-Path $Feed "WandbLaunch.$Version.nupkg"
        $nupkg | Should -Exist
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [IO.Compression.ZipFile]::OpenRead($nupkg)
        try {
            $entries = @($zip.Entries.FullName)
            $nuspec = [IO.StreamReader]::new(($zip.Entries | Where-Object FullName -EQ 'WandbLaunch.nuspec').Open()).ReadToEnd()
        }
        finally {
            $zip.Dispose()
        }
        foreach ($file in 'WandbLaunch.psd1', 'WandbLaunch.Format.ps1xml', 'bin/WandbLaunch.dll', 'bin/WandbLaunch.Loader.dll', 'en-US/WandbLaunch.dll-Help.xml',
            'bin/lib/WandbLaunch.Engine.dll', 'bin/lib/YamlDotNet.dll', 'bin/lib/Microsoft.Data.Sqlite.dll') {
            $entries | Should -Contain $file
        }
        @($entries | Where-Object { $_ -like '*.psm1' -or $_ -eq 'bin/lib/WandbLaunch.dll' }) | Should -BeNullOrEmpty -Because 'the cmdlet assembly is the root module, loaded from bin/ only'
        $rid = [Runtime.InteropServices.RuntimeInformation]::RuntimeIdentifier
        @($entries | Where-Object { $_ -like "bin/lib/runtimes/$rid/native/*" }) | Should -Not -BeNullOrEmpty
        ([xml] $nuspec).package.metadata.id | Should -BeExactly 'WandbLaunch'
        ([xml] $nuspec).package.metadata.version | Should -BeExactly $Version
    }

    It 'imports the module folder in a fresh pwsh and works from it' {
        $dir = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ WANDB_LAUNCH_DB = "$dir/launch.db"; WBL_PACKAGE = $ModuleDir } `
            -Script (Invoke-UseModuleScript 'Import-Module (Join-Path $env:WBL_PACKAGE WandbLaunch.psd1)')
        $result.ModuleBase | Should -BeExactly $ModuleDir
        $result.Commands | Should -Be @($Manifest.CmdletsToExport | Sort-Object)
        $result.Queue | Should -BeExactly '{"resource_args":{"local-process":{"cpus":1}}}'
        $result.Config | Should -Be @('packaged')
        foreach ($location in $result.Locations) { $location | Should -BeLike "$ModuleDir/*" }
        $result.Locations.Count | Should -BeGreaterOrEqual 4
    }

    It 'installs from a local repository with Save-PSResource and Install-PSResource, and imports from there' {
        $home_ = New-TestDirectory
        # A home has a .config folder: without it NuGet (inside Install-PSResource) writes NuGet/NuGet.Config
        # relative to the current folder.
        New-Item -ItemType Directory "$home_/.config" | Out-Null
        $saveDir = New-TestDirectory
        $result = Invoke-FreshPwshJson -TimeoutSeconds 180 -Environment @{
            HOME = $home_; XDG_DATA_HOME = $null; XDG_CONFIG_HOME = $null; PSModulePath = $null; WBL_FEED = $Feed; WBL_SAVE = $saveDir; WANDB_LAUNCH_DB = "$home_/launch.db"
        } -Script @'
$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name WandbLaunchLocal -Uri $env:WBL_FEED -Trusted
Save-PSResource -Name WandbLaunch -Repository WandbLaunchLocal -Path $env:WBL_SAVE -TrustRepository
Install-PSResource -Name WandbLaunch -Repository WandbLaunchLocal -Scope CurrentUser -TrustRepository
[pscustomobject]@{
    Saved = @(Get-ChildItem $env:WBL_SAVE -Recurse -Filter WandbLaunch.psd1 | ForEach-Object FullName)
    Installed = (Get-InstalledPSResource -Name WandbLaunch).InstalledLocation
    Available = @(Get-Module -ListAvailable WandbLaunch | ForEach-Object ModuleBase)
} | ConvertTo-Json -Compress
'@
        $saved = Join-Path $saveDir "WandbLaunch/$Version/WandbLaunch.psd1"
        $result.Saved | Should -Be @($saved)
        $result.Available | Should -HaveCount 1
        $result.Available[0] | Should -BeLike "$home_/*"
        Join-Path $RepoRoot 'NuGet' | Should -Not -Exist -Because 'installing must not write into the current folder'

        $fromSaved = Invoke-FreshPwshJson -Environment @{ WANDB_LAUNCH_DB = "$saveDir/launch.db"; WBL_MANIFEST = $saved } `
            -Script (Invoke-UseModuleScript 'Import-Module $env:WBL_MANIFEST')
        $fromSaved.ModuleBase | Should -BeExactly (Split-Path $saved)
        $fromSaved.Version | Should -BeExactly $Version
        $fromSaved.Config | Should -Be @('packaged')
        foreach ($location in $fromSaved.Locations) { $location | Should -BeLike "$(Split-Path $saved)/*" }

        # Installed for the user: found by name alone.
        $byName = Invoke-FreshPwshJson -Environment @{ HOME = $home_; XDG_DATA_HOME = $null; XDG_CONFIG_HOME = $null; PSModulePath = $null; WANDB_LAUNCH_DB = "$home_/store/launch.db" } `
            -Script (Invoke-UseModuleScript 'Import-Module WandbLaunch')
        $byName.ModuleBase | Should -BeExactly $result.Available[0]
        $byName.Queue | Should -BeExactly '{"resource_args":{"local-process":{"cpus":1}}}'
        $byName.Commands | Should -Be @($Manifest.CmdletsToExport | Sort-Object)
    }
}
