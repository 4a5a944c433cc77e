"""The face mesh (blendshape deformation, shading) and its headless software renderer."""
