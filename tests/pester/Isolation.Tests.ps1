# Dependency isolation: WandbLaunch's libraries live in its own AssemblyLoadContext, so another module's version of
# the same library (powershell-yaml's YamlDotNet, AWS.Tools' SDK) in the same session does not break either.
BeforeAll {
    . $PSScriptRoot/Common.ps1

    $script:OldYaml = Get-ConflictingYamlDotNetPath
    [xml] $props = Get-Content (Join-Path $RepoRoot 'Directory.Packages.props') -Raw
    $script:ModuleYamlVersion = ($props.Project.ItemGroup.PackageVersion | Where-Object Include -EQ 'YamlDotNet').Version
    $script:LibDir = Join-Path $BuiltModuleDirectory 'bin/lib'

    # Shared by the child scripts: every loaded assembly of interest, with its version and load context.
    $script:DescribeAssemblies = @'
function Get-LoadedAssemblies {
    foreach ($assembly in [AppDomain]::CurrentDomain.GetAssemblies()) {
        $name = $assembly.GetName()
        [pscustomobject]@{
            Name     = $name.Name
            Version  = "$($name.Version)"
            Product  = ($assembly.GetCustomAttributes([Reflection.AssemblyInformationalVersionAttribute], $false) | Select-Object -First 1).InformationalVersion
            Context  = [Runtime.Loader.AssemblyLoadContext]::GetLoadContext($assembly).Name
            Location = $assembly.Location
        }
    }
}
'@
}

AfterAll {
    Remove-TestDirectories
}

Describe 'Dependency isolation' {
    Context 'an older YamlDotNet loaded into the session before WandbLaunch' {
        BeforeAll {
            $dir = New-TestDirectory
            $script:Result = Invoke-FreshPwshJson -Environment @{ WBL_YAMLDOTNET = $OldYaml.Path; WBL_DIR = $dir; WANDB_LAUNCH_DB = "$dir/launch.db" } -Script ($DescribeAssemblies + @'

$ErrorActionPreference = 'Stop'
# What another module (powershell-yaml) does: load its YamlDotNet into PowerShell's own context, and use it.
Add-Type -Path $env:WBL_YAMLDOTNET
$deserializer = [YamlDotNet.Serialization.DeserializerBuilder]::new().Build()
$before = $deserializer.Deserialize([IO.StringReader]::new("queues: [a, b]`nmax_jobs: 3"))

Import-Module $env:WBL_MODULE
$path = Join-Path $env:WBL_DIR 'launch-config.yaml'
$written = New-WandbLaunchAgentConfig -Path $path -Queue gpu-queue, cpu-queue -MaxJobs 4 -BuilderType docker -Destination registry.example.com/team/images
$read = Get-WandbLaunchAgentConfig -Path $path
Set-WandbLaunchAgentConfig -Path $path -Setting @{ 'builder.platform' = 'linux/arm64' }
$changed = Get-WandbLaunchAgentConfig -Path $path
$queue = New-WandbLaunchQueue -Name yaml -Resource local-process -Configuration "cpus: 2`nenv: [A=1]"

# The older YamlDotNet still works after WandbLaunch loaded its own, and reads what WandbLaunch wrote.
$after = [YamlDotNet.Serialization.DeserializerBuilder]::new().Build().Deserialize([IO.StringReader]::new((Get-Content $path -Raw)))
$serialized = [YamlDotNet.Serialization.SerializerBuilder]::new().Build().Serialize($after)

[pscustomobject]@{
    Before       = @{ Queues = @($before['queues']); MaxJobs = $before['max_jobs'] }
    Written      = @{ Queues = @($written.Queues); MaxJobs = $written.MaxJobs }
    Read         = @{ Queues = @($read.Queues); MaxJobs = $read.MaxJobs; Destination = $read.Builder.Destination }
    Platform     = $changed.Builder.Platform
    QueueConfig  = $queue.ConfigurationJson
    After        = @{ Queues = @($after['queues']); MaxJobs = $after['max_jobs']; Platform = $after['builder']['platform'] }
    Serialized   = $serialized
    OldTypeContext = [Runtime.Loader.AssemblyLoadContext]::GetLoadContext([YamlDotNet.Serialization.Deserializer].Assembly).Name
    Assemblies   = @(Get-LoadedAssemblies | Where-Object Name -EQ 'YamlDotNet')
} | ConvertTo-Json -Compress -Depth 5
'@)
        }

        It 'leaves the session''s YamlDotNet working before and after WandbLaunch is imported' {
            $Result.Before.Queues | Should -Be @('a', 'b')
            $Result.Before.MaxJobs | Should -BeExactly '3'
            $Result.After.Queues | Should -Be @('gpu-queue', 'cpu-queue')
            $Result.After.MaxJobs | Should -BeExactly '4'
            $Result.After.Platform | Should -BeExactly 'linux/arm64'
            $Result.Serialized | Should -Match 'max_jobs: 4'
            $Result.OldTypeContext | Should -BeExactly 'Default' -Because 'the YamlDotNet type PowerShell resolves is still the one the session loaded'
        }

        It 'writes, reads and changes configs with its own YamlDotNet' {
            $Result.Written.Queues | Should -Be @('gpu-queue', 'cpu-queue')
            $Result.Written.MaxJobs | Should -Be 4
            $Result.Read.Queues | Should -Be @('gpu-queue', 'cpu-queue')
            $Result.Read.MaxJobs | Should -Be 4
            $Result.Read.Destination | Should -BeExactly 'registry.example.com/team/images'
            $Result.Platform | Should -BeExactly 'linux/arm64'
            $Result.QueueConfig | Should -BeExactly '{"resource_args":{"local-process":{"cpus":2,"env":["A=1"]}}}'
        }

        It 'has both YamlDotNet versions loaded, each in its own load context' {
            $Result.Assemblies.Count | Should -Be 2
            $old = $Result.Assemblies | Where-Object Context -EQ 'Default'
            $ours = $Result.Assemblies | Where-Object Context -EQ 'WandbLaunch'
            $old | Should -HaveCount 1
            $ours | Should -HaveCount 1
            $old.Product | Should -BeLike "$($OldYaml.Version)*"
            $old.Location | Should -BeExactly $OldYaml.Path
            $ours.Product | Should -BeLike "$ModuleYamlVersion*"
            $ours.Location | Should -BeExactly (Join-Path $LibDir 'YamlDotNet.dll')
            $ours.Version | Should -Not -Be $old.Version
        }
    }

    It 'works when the older YamlDotNet is loaded after WandbLaunch' {
        $dir = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ WBL_YAMLDOTNET = $OldYaml.Path; WBL_DIR = $dir } -Script ($DescribeAssemblies + @'

$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
$path = Join-Path $env:WBL_DIR 'launch-config.yaml'
New-WandbLaunchAgentConfig -Path $path -Queue first | Out-Null
Add-Type -Path $env:WBL_YAMLDOTNET
$old = [YamlDotNet.Serialization.DeserializerBuilder]::new().Build().Deserialize([IO.StringReader]::new((Get-Content $path -Raw)))
Set-WandbLaunchAgentConfig -Path $path -Queue first, second
[pscustomobject]@{
    Old = @($old['queues'])
    Ours = @((Get-WandbLaunchAgentConfig -Path $path).Queues)
    Contexts = @(Get-LoadedAssemblies | Where-Object Name -EQ 'YamlDotNet' | ForEach-Object Context | Sort-Object)
} | ConvertTo-Json -Compress
'@)
        $result.Old | Should -Be @('first')
        $result.Ours | Should -Be @('first', 'second')
        $result.Contexts | Should -Be @('Default', 'WandbLaunch')
    }

    Context 'Import-Module ./WandbLaunch.psd1' {
        BeforeAll {
            $dir = New-TestDirectory
            $script:Imported = Invoke-FreshPwshJson -Environment @{ WBL_DIR = $dir; WANDB_LAUNCH_DB = "$dir/launch.db" } -Script ($DescribeAssemblies + @'

$ErrorActionPreference = 'Stop'
$module = Import-Module ./WandbLaunch.psd1 -PassThru
$afterImport = @(Get-LoadedAssemblies)
$first = @($module.ExportedCommands.Keys | Sort-Object)
# Use the store (SQLite) and a config (YAML) so that every dependency is loaded.
New-WandbLaunchQueue -Name q -Resource local-process | Out-Null
$afterFirstCall = @(Get-LoadedAssemblies)
New-WandbLaunchAgentConfig -Path (Join-Path $env:WBL_DIR 'launch-config.yaml') -Queue q | Out-Null
$again = Import-Module ./WandbLaunch.psd1 -Force -PassThru
[pscustomobject]@{
    ModuleBase = $module.ModuleBase
    Version = "$($module.Version)"
    Exported = $first
    Cmdlets = @(Get-Command -Module WandbLaunch | ForEach-Object Name | Sort-Object)
    Functions = @($module.ExportedFunctions.Keys); Aliases = @($module.ExportedAliases.Keys); Variables = @($module.ExportedVariables.Keys)
    ExportedAfterReimport = @($again.ExportedCommands.Keys | Sort-Object)
    WorksAfterReimport = (Get-WandbLaunchQueue q).Name
    AfterImport = $afterImport
    AfterFirstCall = $afterFirstCall
    Assemblies = @(Get-LoadedAssemblies)
} | ConvertTo-Json -Compress -Depth 4
'@)
            $script:Manifest = Import-PowerShellDataFile $SourceManifestPath
            $script:Ours = @($Imported.Assemblies | Where-Object { $_.Name -like 'WandbLaunch*' -or $_.Name -in 'YamlDotNet', 'Microsoft.Data.Sqlite' -or $_.Name -like 'SQLitePCLRaw*' })
        }

        It 'exports exactly the manifest''s CmdletsToExport' {
            $expected = @($Manifest.CmdletsToExport | Sort-Object)
            $Imported.ModuleBase | Should -BeExactly $BuiltModuleDirectory
            $Imported.Exported | Should -Be $expected
            $Imported.Cmdlets | Should -Be $expected
            $Imported.Functions | Should -BeNullOrEmpty
            $Imported.Aliases | Should -BeNullOrEmpty
            $Imported.Variables | Should -BeNullOrEmpty
        }

        It 'has the version of module/WandbLaunch.psd1 (the root stub names it too)' {
            $Imported.Version | Should -BeExactly $Manifest.ModuleVersion
        }

        It 'exports the same cmdlets, working, after Import-Module -Force' {
            $Imported.ExportedAfterReimport | Should -Be @($Manifest.CmdletsToExport | Sort-Object)
            $Imported.WorksAfterReimport | Should -BeExactly 'q'
        }

        It 'puts only the cmdlets and the loader into PowerShell''s default load context, from bin/' {
            $default = @($Ours | Where-Object Context -EQ 'Default' | Sort-Object Name)
            $default.Name | Should -Be @('WandbLaunch', 'WandbLaunch.Loader')
            foreach ($assembly in $default) {
                $assembly.Location | Should -BeExactly (Join-Path $BuiltModuleDirectory "bin/$($assembly.Name).dll")
            }
        }

        It 'loads neither the engine nor any library of bin/lib on import' {
            # Importing costs every new pwsh that uses the module (bench/Measure-Import.ps1): the engine and its
            # libraries wait for the first cmdlet that needs them.
            $names = @($Imported.AfterImport | ForEach-Object Name)
            $names | Should -Contain 'WandbLaunch'
            $names | Should -Not -Contain 'WandbLaunch.Engine'
            @($Imported.AfterImport | Where-Object { $_.Location -and $_.Location.StartsWith($LibDir) } | ForEach-Object Name) | Should -BeNullOrEmpty
            @($Imported.AfterImport | Where-Object Context -EQ 'WandbLaunch') | Should -BeNullOrEmpty -Because 'nothing enters the private load context before it is used'
        }

        It 'loads the engine and the libraries it uses on the first cmdlet call, into the load context named WandbLaunch' {
            $private = @($Imported.AfterFirstCall | Where-Object Context -EQ 'WandbLaunch' | ForEach-Object Name)
            foreach ($name in 'WandbLaunch.Engine', 'Microsoft.Data.Sqlite') {
                $private | Should -Contain $name
            }
            $private = @($Ours | Where-Object Context -EQ 'WandbLaunch' | ForEach-Object Name)
            foreach ($name in 'WandbLaunch.Engine', 'YamlDotNet', 'Microsoft.Data.Sqlite') {
                $private | Should -Contain $name
            }
            $private | Should -Not -Contain 'WandbLaunch' -Because 'the cmdlet assembly is loaded once, by PowerShell'
        }

        It 'gives the cmdlets and the engine one System.Text.Json, whose types they hand each other' {
            # bin/lib has a copy too (a package's); the engine must not load it while the platform's is new enough.
            $json = @($Imported.Assemblies | Where-Object Name -EQ 'System.Text.Json')
            $json | Should -HaveCount 1
            $json[0].Context | Should -BeExactly 'Default'
        }

        It 'loads every assembly of bin/lib into the WandbLaunch context, each once' {
            $fromLib = @($Imported.Assemblies | Where-Object { $_.Location -and $_.Location.StartsWith($LibDir) })
            $fromLib.Count | Should -BeGreaterThan 3
            foreach ($assembly in $fromLib) {
                $assembly.Context | Should -BeExactly 'WandbLaunch' -Because "$($assembly.Name) comes from bin/lib"
            }
            $fromLib.Name | Group-Object | Where-Object Count -GT 1 | Should -BeNullOrEmpty
            @($Ours | Where-Object { $_.Context -notin 'Default', 'WandbLaunch' }) | Should -BeNullOrEmpty
        }
    }
}
